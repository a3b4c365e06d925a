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
    gpus = visible_gpus() if device != "cpu" else []
    # The only environment access here: the workers get this process's environment whole, plus
    # their own device and thread settings.
    base = dict(os.environ)
    base["EVALKIT_PROGRESS"] = "0"  # N progress bars on one terminal are noise
    if not gpus and "OMP_NUM_THREADS" not in base:
        base["OMP_NUM_THREADS"] = str(max(len(os.sched_getaffinity(0)) // len(argvs), 1))
    with tempfile.TemporaryDirectory(prefix="evalkit-workers-") as tmp:
        logs = [Path(tmp) / f"worker-{k}.log" for k in range(len(argvs))]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for k, (argv, log) in enumerate(zip(argvs, logs)):
                env = dict(base)
                if len(gpus) > 1:
                    env["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
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


def visible_gpus() -> list[str]:
    """The GPU ids a worker may be given (as CUDA_VISIBLE_DEVICES entries); empty without CUDA."""
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if len(listed) >= count else [str(i) for i in range(count)]


def _shard_of(argv: list[str]) -> str:
    return argv[argv.index("--shard") + 1]
