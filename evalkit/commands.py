"""One function per CLI command: turn parsed flags (and the environment read by the CLI) into core
calls and print the outcome."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.config import Environment, RunConfig
from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.store import Store
    from evalkit.suites import Suite


def _store(path: Path | None, env: Environment) -> Store:
    """The store at ``path`` (default: the user's); the caller closes it (``with _store(...) as store``)."""
    from evalkit.store import Store, default_store_path

    return Store(path or default_store_path(env.home))


def run_config(args: argparse.Namespace, suite: Suite, env: Environment) -> RunConfig:
    """The one :class:`RunConfig` of ``evalkit run``: flags over ``suite``'s defaults over ``env``."""
    return RunConfig.resolve(
        suite, env, model=args.model, store_path=args.store, output=args.output, limit=args.limit,
        batch_size=args.batch_size, seed=args.seed, device=args.device, dtype=args.dtype, data_root=args.data_root,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None,
        use_cache=not args.no_cache)


def cmd_run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.runner import print_summary, run_suite
    from evalkit.suites import load_suite

    suite = load_suite(args.suite)  # checked whole (local data files included) before anything runs
    print_summary(run_suite(suite, run_config(args, suite, env)))
    return 0


def cmd_models(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.models.aliases import ALIASES

    for alias in ALIASES.values():
        if not alias.installed():
            state = f"not installed ({alias.install})"
        else:
            state = "cached" if alias.converted() else "converted on first use"
        kind = "chat" if alias.chat else "base"
        print(f"{alias.name:24} {kind:5} {state:24} {alias.description}")
    return 0


def cmd_suites(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.suites import load_suite

    if args.action == "validate":
        suite = load_suite(args.file)
        print(f"{args.file}: ok — suite {suite.name!r}, {len(suite.tasks)} tasks: "
              + ", ".join(f"{t.name} ({t.evaluator.name})" for t in suite.tasks))
        return 0
    files = sorted(args.folder.glob("*.yaml")) + sorted(args.folder.glob("*.yml"))
    if not files:
        raise UserError(f"{args.folder}: no suite files (*.yaml) here")
    for file in files:
        try:
            suite = load_suite(file)
            print(f"{file!s:36} {suite.name:20} {len(suite.tasks):3} tasks  {suite.description}")
        except UserError as exc:
            print(f"{file!s:36} INVALID  {exc}")
    return 0


def cmd_evaluators(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.evaluator import evaluator_registry
    from evalkit.suites.loader import describe_settings

    registry = evaluator_registry()
    for name in registry.names():
        cls = registry.get(name)
        doc = ((cls.__module__ and sys.modules[cls.__module__].__doc__) or "").strip().splitlines()
        needs = ", ".join(sorted(cls.request_kinds)) or "no model"
        print(f"{name}  [{needs}]\n  {doc[0] if doc else ''}")
        for field, kind, help_text in describe_settings(cls):
            print(f"    {field:22} {kind:36} {help_text}")
    return 0


def cmd_score(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.humaneval_scoring import parse_k, print_outcome, score_humaneval

    if args.timeout <= 0:
        raise UserError(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    outcome = score_humaneval(args.predictions, dataset=args.dataset, k=parse_k(args.k), timeout_s=args.timeout,
                              workers=args.workers, isolation=args.isolation,
                              allow_unsandboxed=args.allow_unsandboxed, output=args.output)
    print_outcome(outcome)
    return 0


def cmd_results(args: argparse.Namespace, env: Environment) -> int:
    with _store(args.store, env) as store:
        return _results(args, store)


def _results(args: argparse.Namespace, store: Store) -> int:
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
        raise UserError(f"run {args.run!r}: not in the store {store.path}")
    if args.action == "export":
        from evalkit.store.export import export_run

        sys.stdout.write(export_run(store, run["run"]["run_id"], args.format))
        return 0
    from evalkit.report import format_table

    info = run["run"]
    print(f"run {info['run_id']}  suite {info['suite']}  model {info['model_name']}  status {info['status']}")
    print(format_table([(r.task, r.metric, r.filter, r.value, r.stderr, r.n) for r in run["results"]]))
    return 0
