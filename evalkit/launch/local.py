"""``--workers N`` on this machine: N ``evalkit run --shard I/N`` processes, one GPU each where there are several.

Each worker is a fresh interpreter that loads the model once. Where torch sees more than one GPU,
worker k sees only GPU ``k mod count`` (``CUDA_VISIBLE_DEVICES``, taken from the parent's own list
when it has one), so the workers do not share a device by accident. On the CPU the cores are split
between the workers (``OMP_NUM_THREADS``, unless set): N workers of all cores each would only
fight over them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from evalkit.launch import WorkerResult


def run_local(argvs: list[list[str]], *, device: str) -> list[WorkerResult]:
    """Start one process per argument list, wait for all of them, and say how each ended."""
    devices = worker_devices(len(argvs), *_cuda_view()) if device != "cpu" else [None] * len(argvs)
    # The only environment access here: the workers get this process's environment whole, plus
    # their own device and thread settings.
    base = dict(os.environ)
    base["EVALKIT_PROGRESS"] = "0"  # N progress bars on one terminal are noise
    if devices[0] is None and "OMP_NUM_THREADS" not in base:
        base["OMP_NUM_THREADS"] = str(max(len(os.sched_getaffinity(0)) // len(argvs), 1))
    with tempfile.TemporaryDirectory(prefix="evalkit-workers-") as tmp:
        logs = [Path(tmp) / f"worker-{k}.log" for k in range(len(argvs))]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for argv, log, gpu in zip(argvs, logs, devices):
                env = dict(base)
                if gpu is not None:
                    env["CUDA_VISIBLE_DEVICES"] = gpu
                with log.open("wb") as out:
                    procs.append(subprocess.Popen([sys.executable, "-m", "evalkit.cli", *argv], env=env,
                                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            codes = [p.wait() for p in procs]
        except BaseException:  # Ctrl-C or a failure here: no worker outlives the launcher
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            raise
        return [WorkerResult(_shard_of(argv), code, log.read_text(errors="replace"))
                for argv, code, log in zip(argvs, codes, logs)]


def worker_devices(n_workers: int, gpu_count: int, visible: str | None) -> list[str | None]:
    """Each worker's ``CUDA_VISIBLE_DEVICES`` (None: leave it as it is).

    With more than one GPU visible to torch, worker k gets GPU ``k mod gpu_count``, named as the
    parent's own ``CUDA_VISIBLE_DEVICES`` names it (``visible``) where that lists them, else by index.
    With one GPU or none every worker sees what the parent sees.
    """
    if gpu_count <= 1:
        return [None] * n_workers
    listed = [d.strip() for d in (visible or "").split(",") if d.strip()]
    ids = listed[:gpu_count] if len(listed) >= gpu_count else [str(i) for i in range(gpu_count)]
    return [ids[k % gpu_count] for k in range(n_workers)]


def _cuda_view() -> tuple[int, str | None]:
    """How many GPUs torch sees here, and the CUDA_VISIBLE_DEVICES it sees them through."""
    import torch

    return torch.cuda.device_count(), os.environ.get("CUDA_VISIBLE_DEVICES")


def _shard_of(argv: list[str]) -> str:
    return argv[argv.index("--shard") + 1]
