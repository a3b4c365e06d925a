"""``evalkit results list|show|export|import``: read the results store, or add lm-eval results to it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.store import Store

HELP = "the results store"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (("list", "runs in the store"), ("show", "one run's results"),
                            ("export", "one run as JSON or CSV"), ("import", "an lm-evaluation-harness results file")):
        p = actions.add_parser(name, help=help_text)
        add_store_flag(p)
        if name in ("show", "export"):
            p.add_argument("run", help="run id (or a unique prefix)")
        if name == "export":
            p.add_argument("--format", choices=["json", "csv"], default="json")
        if name == "import":
            p.add_argument("file", type=Path)


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.store import Store

    with Store(store_path(args, env)) as store:
        return _act(args, store)


def _act(args: argparse.Namespace, store: Store) -> int:
    from evalkit.errors import UserError

    if args.action == "list":
        runs = store.list_runs()
        if not runs:
            print("no runs yet")
        for r in runs:
            print(f"{r.run_id:60} {r.status:9} {r.model_name:28} {r.n_results:4} results  {r.started_at}")
        return 0
    if args.action == "import":
        from evalkit.store.lm_eval_import import import_lm_eval_results

        run_id = import_lm_eval_results(store, args.file)
        print(f"imported {args.file} as run {run_id}")
        return 0
    run = store.get_run(args.run)
    if run is None:
        raise UserError(f"run {args.run!r}: not in the store {store.location}")
    if args.action == "export":
        from evalkit.store.export import export_run

        sys.stdout.write(export_run(store, run["run"]["run_id"], args.format))
        return 0
    from evalkit.report import format_table

    info = run["run"]
    print(f"run {info['run_id']}  suite {info['suite']}  model {info['model_name']}  status {info['status']}")
    print(format_table([(r.task, r.metric, r.filter, r.value, r.stderr, r.n) for r in run["results"]]))
    return 0
