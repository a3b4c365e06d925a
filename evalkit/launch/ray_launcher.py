"""``--workers N --launcher ray``: the shards as N Ray tasks on a Ray cluster.

Ray places the tasks; evalkit schedules nothing itself. Each task runs ``evalkit run --shard I/N``
in a Ray worker process, so it loads the model once and writes its answers into the results
store, which every node must reach (a shared file system for SQLite, or a database server). A task
asks for one GPU when the cluster has GPUs and the run is not on the CPU (Ray then sets the
task's ``CUDA_VISIBLE_DEVICES``), else for one CPU.

The cluster is ``--ray-address``, else ``$RAY_ADDRESS`` (Ray reads it), else a local one started
for this run and stopped after it. An already initialised Ray (a script, a test) is used as it is.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from typing import TYPE_CHECKING

from evalkit.errors import UserError
from evalkit.launch import WorkerResult

if TYPE_CHECKING:
    from evalkit.config import Environment


def run_ray(argvs: list[list[str]], *, address: str | None, env: Environment, device: str) -> list[WorkerResult]:
    """Run each argument list as one Ray task, wait for all of them, and say how each ended."""
    try:
        import ray
    except ImportError:
        raise UserError("--launcher ray needs Ray: pip install 'evalkit[ray]' (or pip install ray)") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        gpus = device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1
        # The workers see this run's evalkit environment (store, caches, data root), not the node's;
        # progress bars off: N of them interleave in the driver's log.
        runtime_env = {"env_vars": {**env.to_environ(), "EVALKIT_PROGRESS": "0", "TOKENIZERS_PARALLELISM": "false"}}
        # A task whose worker process died (a lost node, an out-of-memory kill) is rerun by Ray: the
        # rerun resumes from the store, so retrying costs only the batch that was in flight.
        task = ray.remote(num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0, max_retries=2)(_run_shard)
        refs = [task.options(runtime_env=runtime_env).remote(argv, os.getcwd()) for argv in argvs]
        results = []
        for argv, ref in zip(argvs, refs):
            shard = argv[argv.index("--shard") + 1]
            try:
                code, output = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 -- the task died (a crash, a lost node): say so, go on
                code, output = 1, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc) else ''}"
            results.append(WorkerResult(shard, code, output))
        return results
    finally:
        if started_here:
            ray.shutdown()


def _run_shard(argv: list[str], cwd: str) -> tuple[int, str]:
    """Inside a Ray worker: ``evalkit run --shard ...`` as from ``cwd``, with its output captured."""
    from evalkit.cli import main

    out = io.StringIO()
    previous = os.getcwd()
    if os.path.isdir(cwd):  # relative paths resolve as on the driver, where the node shares its file system
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception as exc:  # noqa: BLE001 -- reported to the driver as this shard's failure
                print(f"{type(exc).__name__}: {exc}")
                code = 1
        return code, out.getvalue()
    finally:
        os.chdir(previous)


