"""Launchers for ``evalkit run --workers N``: start the shards, wait for them, hand back the gather.

A launcher only starts ``evalkit run --shard I/N`` N times on an existing engine (local processes,
Ray tasks) and reports how each ended; the partition itself is :mod:`evalkit.engine.shards`, and
the shards meet only in the results store's request cache. After they all finished the parent
runs the usual ``evalkit run`` in gather mode: every answer is cached, so nothing is computed and
no model is loaded, and the results are written as by a single process.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.config import Environment, RunConfig
    from evalkit.suites import Suite


class WorkerFailed(UserError):
    """A shard ended with an error: the others' answers, and what it had answered, are kept."""

    exit_code = 1


@dataclass(frozen=True)
class WorkerResult:
    shard: str  # "I/N"
    returncode: int
    output: str  # its stdout and stderr, for the summary line or the reason it failed

    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"


def run_workers(args: argparse.Namespace, suite: Suite, config: RunConfig, env: Environment) -> RunConfig:
    """Run ``args.workers`` shards with ``args.launcher``; the gather's config when all of them finished."""
    from evalkit.commands.run import shard_argv

    n = args.workers
    out = config.output
    if out is not None and out.exists() and any(out.iterdir()):  # the gather would refuse it: say so first
        raise UserError(f"--output {out}: folder exists and is not empty")
    argvs = [shard_argv(args, f"{i}/{n}") for i in range(n)]
    if args.launcher == "ray":
        from evalkit.launch.ray_launcher import run_ray

        results = run_ray(argvs, address=args.ray_address, env=env, device=config.device)
    else:
        from evalkit.launch.local import run_local

        results = run_local(argvs, device=config.device)
    for r in results:
        if r.returncode == 0:
            print(r.last_line(), file=sys.stderr)
    failed = [r for r in results if r.returncode != 0]
    refused = [r for r in failed if r.returncode == UserError.exit_code]
    if refused:  # bad input that only a worker could see (its data, its model): the worker's one line
        raise UserError(refused[0].last_line())
    if failed:
        f = failed[0]
        raise WorkerFailed(f"shard {f.shard} failed (exit code {f.returncode}): {f.last_line()}"
                           f"{f' (and {len(failed) - 1} more)' if len(failed) > 1 else ''}; "
                           "the answers computed so far are in the store: rerun to finish")
    return dataclasses.replace(config, require_cached=True, use_cache=True)
