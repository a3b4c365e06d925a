"""Argument types shared by several commands: a bad value is one line through argparse."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.engine.shards import ShardSpec


def batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return n


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def store_spec(value: str) -> str | Path:
    """A ``--store`` value: a SQLite file's path, or a URL of a database evalkit serves (kept as text:
    ``Path`` would fold ``postgresql://`` into ``postgresql:/``)."""
    from evalkit.errors import UserError
    from evalkit.store.backend import check_store_spec

    try:
        return check_store_spec(value)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def shard_spec(value: str) -> ShardSpec:
    from evalkit.engine.shards import parse_shard

    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=store_spec,
                        help="results store: a SQLite file or postgresql://user@host/db "
                             "(default $EVALKIT_STORE, else $EVALKIT_HOME/evalkit.db)")


def store_path(args: argparse.Namespace, env: Environment) -> str | Path:
    """The results store a command uses: ``--store``, else ``$EVALKIT_STORE``, else ``$EVALKIT_HOME/evalkit.db``."""
    spec: str | Path = args.store or env.store_path
    return spec
