"""``evalkit store export DEST``: copy the results store into another store (a SQLite file, created when
missing, or a PostgreSQL database).

``evalkit store merge SOURCE...``: copy each SOURCE store into the results store (``--store``), e.g. the
per-shard SQLite files of a cluster without a shared database. Both are idempotent: running one again
adds nothing (see :mod:`evalkit.store.transfer`). Each prints one line per copy with the rows added.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, store_path, store_spec

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "copy runs, samples, caches, judgments and votes between stores (export, merge)"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="copy the results store (--store) into DEST")
    export.add_argument("dest", type=store_spec, metavar="DEST",
                        help="a SQLite file (created when missing) or postgresql://user@host/db")
    add_store_flag(export)
    merge = actions.add_parser("merge", help="copy each SOURCE store into the results store (--store)")
    merge.add_argument("sources", type=store_spec, nargs="+", metavar="SOURCE",
                       help="SQLite files or postgresql:// URLs to copy from")
    add_store_flag(merge)


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.errors import UserError

    own = store_path(args, env)
    pairs = [(own, args.dest)] if args.action == "export" else [(source, own) for source in args.sources]
    for source, dest in pairs:
        # A missing source file would be created empty by opening it: say so instead of copying nothing.
        if isinstance(source, Path) and not source.is_file():
            raise UserError(f"{source}: no such store file")
        if _same(source, dest):
            raise UserError(f"{source}: is the store being copied into; nothing to copy")
    for source, dest in pairs:
        _copy(source, dest)
    return 0


def _same(a: str | Path, b: str | Path) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return a == b


def _copy(source: str | Path, dest: str | Path) -> None:
    from evalkit.store import Store
    from evalkit.store.transfer import copy_store

    with Store(source) as src, Store(dest) as dst:
        added = copy_store(src, dst)
        print(f"{src.location} -> {dst.location}: " + ", ".join(f"{n} {table}" for table, n in added.items())
              + " added")
