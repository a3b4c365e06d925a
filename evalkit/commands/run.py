"""``evalkit run SUITE --model MODEL``: a suite on a model, results on disk and in the store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, batch_size, positive_int, shard_spec

if TYPE_CHECKING:
    from evalkit.config import Environment, RunConfig
    from evalkit.suites import Suite

HELP = "run a suite on a model"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", type=Path, help="suite YAML file, lm-eval task or group file, folder of task files, "
                        "or a shipped task name (arc_easy; `evalkit tasks list`)")
    parser.add_argument("--model", help="checkpoint folder, PEFT adapter folder, .gguf file, hub id, built-in "
                        "alias (see `evalkit models list`) or openai:<base_url>#<model>")
    parser.add_argument("--output", type=Path, help="output folder (default runs/<suite>__<model>__<time>)")
    add_store_flag(parser)
    parser.add_argument("--limit", type=positive_int, help="only the first N documents of each task")
    parser.add_argument("--batch-size", type=batch_size, help="requests per forward pass, or 'auto'")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], default="float32",
                        help="model weights' dtype (float32 keeps log-likelihoods exact)")
    parser.add_argument("--data-root", type=Path, help="local mirrors of hub data sets (or $EVALKIT_DATA_ROOT)")
    parser.add_argument("--seed", type=int, help="overrides the suite's seed")
    parser.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    parser.add_argument("--no-cache", action="store_true", help="ignore cached answers and recompute them")
    parser.add_argument("--allow-task-code", action="store_true",
                        help="let task files run their own Python (!function, process_results, custom_dataset, "
                        "filter: custom, evaluate: metrics). RISK: that code runs with your permissions, unsandboxed, "
                        "when the task loads; only use it on task files you trust. Without it such code is refused "
                        "(lm-eval's own helpers for the standard tasks are recognised and run as built-ins)")


    scale = parser.add_argument_group("scaling out (README: Scaling out)")
    scale.add_argument("--shard", type=shard_spec, metavar="I/N",
                       help="answer only shard I of N (I from 0 to N-1) into the store's request cache and exit; "
                       "a final run without --shard writes the results")
    scale.add_argument("--workers", type=positive_int, metavar="N",
                       help="run N shards as N workers (local processes, one GPU each where there are several; "
                       "or Ray tasks), then write the results here")
    scale.add_argument("--launcher", choices=["local", "ray"], default="local",
                       help="where --workers run: local processes (default) or tasks on a Ray cluster")
    scale.add_argument("--ray-address", metavar="ADDRESS",
                       help="the Ray cluster for --launcher ray (default $RAY_ADDRESS, else a local one)")


def shard_argv(args: argparse.Namespace, shard: str) -> list[str]:
    """The ``evalkit run`` arguments of one worker: this command's, without output or launcher, plus --shard."""
    argv = ["run", str(Path(args.suite).resolve()), "--shard", shard, "--device", args.device, "--dtype", args.dtype]
    for flag, value in (("--model", args.model), ("--store", args.store), ("--limit", args.limit),
                        ("--batch-size", args.batch_size), ("--data-root", args.data_root), ("--seed", args.seed),
                        ("--tasks", args.tasks)):
        if value is not None:
            argv += [flag, str(Path(value).resolve()) if isinstance(value, Path) else str(value)]
    for flag, on in (("--no-cache", args.no_cache), ("--allow-task-code", args.allow_task_code)):
        if on:
            argv.append(flag)
    return argv


def run_config(args: argparse.Namespace, suite: Suite, env: Environment) -> RunConfig:
    """The one :class:`RunConfig` of ``evalkit run``: flags over ``suite``'s defaults over ``env``."""
    from evalkit.config import RunConfig

    return RunConfig.resolve(
        suite, env, model=args.model, store_path=args.store, output=args.output, limit=args.limit,
        batch_size=args.batch_size, seed=args.seed, device=args.device, dtype=args.dtype, data_root=args.data_root,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None,
        use_cache=not args.no_cache, shard=args.shard)


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.runner import print_summary, run_suite
    from evalkit.suites import load_suite

    _check_scaling_flags(args)
    # Checked whole (local data files included) before anything runs.
    suite = load_suite(args.suite, allow_task_code=args.allow_task_code)
    config = run_config(args, suite, env)
    if config.shard is not None:
        from evalkit.runner import print_shard_summary, run_shard

        print_shard_summary(run_shard(suite, config))
        return 0
    if args.workers and args.workers > 1:
        from evalkit.launch import run_workers

        config = run_workers(args, suite, config, env)  # the gather's config: every answer cached
    print_summary(run_suite(suite, config))
    return 0


def _check_scaling_flags(args: argparse.Namespace) -> None:
    from evalkit.errors import UserError

    if args.shard is not None and args.workers is not None:
        raise UserError("--shard and --workers: give one (--workers starts the shards itself)")
    if args.launcher == "ray" and args.workers is None:
        raise UserError("--launcher ray: give --workers N, the number of shards (Ray tasks) to run")
    if args.ray_address and args.launcher != "ray":
        raise UserError("--ray-address: only with --launcher ray")
    if args.shard is not None and args.output is not None:
        raise UserError("--output: a --shard run writes only to the store's request cache; give --output "
                        "to the final run without --shard")
