"""A ``local:<MODEL>`` judge: evalkit serves the checkpoint with ``transformers serve`` on loopback.

The model is resolved like any ``--model`` (alias, folder, GGUF, hub id), then
``transformers serve`` (the ``serving`` extra) starts on a free 127.0.0.1 port, pinned to that
checkpoint: its positional argument preloads it, and requests must name the same string (the
checkpoint folder) as their ``model``. :func:`local_judge_server` waits until ``/health``
answers, yields the base URL and model id, and stops the server on every exit path:

- leaving the ``with`` block, normally or by an exception (Ctrl-C is a KeyboardInterrupt);
- SIGTERM: a handler turns it into ``SystemExit`` so that the block is left the same way;
- interpreter exit (``atexit``), should the block somehow not be left.

The server runs in its own process group (a new session), so stopping it signals the group:
workers it may have started go too, and a Ctrl-C typed at the terminal reaches evalkit only,
which then stops the server itself (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from evalkit.errors import UserError

START_TIMEOUT_S = 300.0  # loading a large checkpoint on a CPU takes minutes; a 135M model ~7 s
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class LocalServer:
    """A running ``transformers serve``: where to send requests and the model id they must name."""

    base_url: str
    model_id: str
    pid: int
    port: int
    log_path: Path


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later; a clash fails its start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(model_dir: Path, port: int, *, device: str = "auto", dtype: str = "auto") -> list[str]:
    """The ``transformers serve`` command line (the same interpreter, so the same install)."""
    return [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
            "--host", "127.0.0.1", "--port", str(port), "--device", device, "--dtype", dtype,
            "--default-seed", "0", "--log-level", "warning"]


@contextlib.contextmanager
def local_judge_server(model_spec: str, *, device: str = "auto", dtype: str = "auto",
                       start_timeout_s: float = START_TIMEOUT_S, log_dir: Path | None = None) -> Iterator[LocalServer]:
    """Serve ``model_spec`` for the duration of the block (see the module docstring)."""
    from evalkit.models.resolve import resolve_model

    try:
        import transformers.cli.serve  # noqa: F401  (the serving extra: fastapi, uvicorn, ...)
    except ImportError as exc:
        raise UserError(f"--judge local:{model_spec}: transformers serve is not installed ({exc}): "
                        "pip install 'evalkit[serving]'") from None
    ref = resolve_model(model_spec)
    if ref.path is None or ref.kind != "hf":
        raise UserError(f"--judge local:{model_spec}: a local judge must be a checkpoint (folder, alias, .gguf "
                        f"or hub id), not a {ref.kind} model; use openai:<base_url>#<model> for an endpoint")
    port = free_port()
    log_file = Path(tempfile.mkstemp(prefix="evalkit-judge-serve-", suffix=".log",
                                     dir=str(log_dir) if log_dir else None)[1])
    print(f"starting transformers serve for the judge {model_spec} on 127.0.0.1:{port} (log: {log_file})",
          file=sys.stderr)
    with log_file.open("w") as log:
        proc = subprocess.Popen(serve_command(ref.path, port, device=device, dtype=dtype), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    stopper = _Stopper(proc)
    atexit.register(stopper.stop)
    previous = _install_sigterm_handler()
    healthy = False
    try:
        _wait_healthy(proc, port, log_file, start_timeout_s, model_spec)
        healthy = True
        yield LocalServer(f"http://127.0.0.1:{port}/v1", str(ref.path), proc.pid, port, log_file)
    finally:
        stopper.stop()
        if healthy:  # a failed start keeps its log, which its error message names
            log_file.unlink(missing_ok=True)
        atexit.unregister(stopper.stop)
        _restore_sigterm_handler(previous)


class _Stopper:
    """Stops the server's process group once (from ``finally``, ``atexit`` or both)."""

    def __init__(self, proc: subprocess.Popen[Any]):
        self.proc = proc
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            if self.proc.poll() is not None:
                return
            for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)  # its own session: pgid == pid
                try:
                    self.proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # Workers the server started may outlive it in the group: SIGKILL whatever is left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _wait_healthy(proc: subprocess.Popen[Any], port: int, log_file: Path, timeout_s: float, spec: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise UserError(f"--judge local:{spec}: transformers serve exited with {proc.returncode}: {tail[0][:300]} "
                            f"(log: {log_file})")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise UserError(f"--judge local:{spec}: transformers serve did not answer within {timeout_s:.0f} s "
                            f"(log: {log_file})")
        time.sleep(0.25)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    # SIGTERM's default kills the interpreter without running ``finally``: raise instead, so the
    # server is stopped on the way out, like for Ctrl-C.
    raise SystemExit(128 + signum)


def _install_sigterm_handler() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None  # signal handlers can only be set from the main thread; finally/atexit still apply
    return signal.signal(signal.SIGTERM, _raise_system_exit)


def _restore_sigterm_handler(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
