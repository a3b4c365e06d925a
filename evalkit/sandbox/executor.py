"""Running programs: launch one in its sandbox, watch it with a deadline, kill what is left, decide.

One run, step by step:

1. Pick the identity: a throw-away uid when the harness is root (see :mod:`.identity`), else the
   harness's own. Pick the interpreter that identity can run (see :mod:`.interpreter`).
2. Start ``python -I -c <bootstrap>`` -- under bwrap, or directly in a fresh temporary directory
   (under rlimits as root: through ``unshare --net``, which then drops to the throw-away uid) --
   in a new session, with a four-variable environment, and write ``<nonce>\\n<source>`` to its stdin.
3. Watch stdout, stderr and the status pipe with a selector until the process exits or the
   wall-clock deadline passes. Output is read as it comes and kept only up to the cap, so a flood
   costs the harness nothing but the reading.
4. Kill everything the program may have left, whether it exited or timed out: every process of the
   throw-away uid, the process group, and under bwrap the namespace's init (its death takes the
   whole pid namespace with it). Exit is detected *without reaping* the child, so its pid and
   process group id cannot be reused by an unrelated process before they are signalled.
5. Remove the work directory and, under rlimits as root, whatever the uid left in world-writable
   directories; return the uid to the pool; decide the verdict (see :mod:`.outcome`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from evalkit.sandbox import identity
from evalkit.sandbox.bwrap import bwrap_argv, find_bwrap, sandbox_env
from evalkit.sandbox.capture import CappedBuffer
from evalkit.sandbox.interpreter import find_interpreter
from evalkit.sandbox.isolation import netns_prefix
from evalkit.sandbox.limits import Limits
from evalkit.sandbox.outcome import decide
from evalkit.sandbox.types import ExecResult, Isolation, Verdict

STATUS_CAP = 4096  # S, a few T<reason> lines and P<nonce>: anything longer is garbage anyway
DRAIN_S = 1.0  # after the kill, how long the pipes may take to close (only an escaped process holds them)
_POLL_S = 0.02  # exit polling interval when pidfds are unavailable (Linux < 5.3)
_CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')


@functools.cache
def bootstrap_source() -> str:
    """The text of :mod:`evalkit.sandbox.bootstrap`, run with ``python -c`` inside the sandbox."""
    return Path(__file__).with_name("bootstrap.py").read_text(encoding="utf-8")


def _check_options(*, timeout_s: float, isolation: Isolation | str, memory_mb: int, output_cap_bytes: int,
                   tag: str, bwrap: str | None = None) -> Isolation:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"memory_mb must be at least 64 (the interpreter alone needs ~30), got {memory_mb}")
    if output_cap_bytes < 0:
        raise ValueError(f"output_cap_bytes must be >= 0, got {output_cap_bytes}")
    if "\0" in tag:
        raise ValueError("tag must not contain NUL")
    if bwrap is not None and not os.path.isabs(bwrap):
        raise ValueError(f"bwrap must be an absolute path, got {bwrap!r}")
    return Isolation(isolation)


def run_program(source: str, *, timeout_s: float = 3.0, isolation: Isolation, memory_mb: int = 1024,
                output_cap_bytes: int = 64 * 1024, tag: str = "", bwrap: str | None = None) -> ExecResult:
    """Run one program and report how it ended; never raises for anything the program does.

    The program passes only if it runs to its end with exit status 0 and the harness's marker comes
    back intact (see :mod:`evalkit.sandbox.bootstrap`). Whatever happens, when this returns no
    process of the program is left running (under rlimits without root, a program that daemonises
    itself with ``setsid`` is the exception: see :mod:`evalkit.sandbox`). ``tag`` is appended to
    the sandbox's command line, so an operator can tell runs apart in ``ps``. ``bwrap`` is the
    bubblewrap executable (default: the one on ``PATH``). Raises ``ValueError``
    for invalid options only; a harness-side failure comes back as :attr:`Verdict.ERROR`.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be str, not {type(source).__name__}")
    isolation = _check_options(timeout_s=timeout_s, isolation=isolation, memory_mb=memory_mb,
                               output_cap_bytes=output_cap_bytes, tag=tag, bwrap=bwrap)
    return _Run(source, timeout_s, isolation, memory_mb, output_cap_bytes, tag, bwrap).execute()


def run_programs(sources: Sequence[str], *, workers: int | None = None,
                 progress: Callable[[int], None] | None = None, **kw: Any) -> list[ExecResult]:
    """Run many programs on a thread pool; results come back in the order of ``sources``.

    ``kw`` are :func:`run_program`'s options (``isolation`` is required). Each program runs in its
    own sandbox, so nothing one does -- crash, hang, flood, fork -- affects another's verdict; a
    harness-side failure on one becomes that program's :attr:`Verdict.ERROR`. ``progress`` is
    called in the calling thread with the number of programs finished so far, after each one.
    """
    if "isolation" not in kw:
        raise TypeError("run_programs() needs isolation=...")
    _check_options(**{"timeout_s": 3.0, "memory_mb": 1024, "output_cap_bytes": 64 * 1024, "tag": "", **kw})
    results: list[ExecResult | None] = [None] * len(sources)
    if not sources:
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(sources)))

    def one(index: int) -> ExecResult:
        start = time.monotonic()
        try:
            return run_program(sources[index], **kw)
        except Exception as exc:  # noqa: BLE001 - one program's harness failure must not stop the batch
            return ExecResult(verdict=Verdict.ERROR, passed=False, exit_code=None,
                              duration_s=time.monotonic() - start, stdout="", stderr="",
                              detail=f"harness error: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evalkit-sandbox") as pool:
        futures = {pool.submit(one, i): i for i in range(len(sources))}
        for finished, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(finished)
    return [r for r in results if r is not None]


def _harness_error(detail: str, duration_s: float = 0.0) -> ExecResult:
    return ExecResult(verdict=Verdict.ERROR, passed=False, exit_code=None, duration_s=duration_s, stdout="",
                      stderr="", detail=detail)


def _exited(pid: int) -> bool:
    """True once ``pid`` (our child) has exited; it stays a zombie, so its pid cannot be reused yet."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _rmtree(path: str) -> None:
    # A program can chmod its own directories to 000; give them back their permissions and retry.
    def retry(func: Callable[..., Any], target: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)

    shutil.rmtree(path, onerror=retry)


class _Run:
    """One program's run; :meth:`execute` owns every resource and releases all of them."""

    def __init__(self, source: str, timeout_s: float, isolation: Isolation, memory_mb: int, cap: int,
                 tag: str, bwrap: str | None) -> None:
        self.source, self.timeout_s, self.isolation = source, timeout_s, isolation
        self.memory_mb, self.tag, self.bwrap = memory_mb, tag, bwrap
        self.nonce = secrets.token_hex(16).encode()
        self.stdout, self.stderr = CappedBuffer(cap), CappedBuffer(cap)
        self.status, self.json_status = CappedBuffer(STATUS_CAP), CappedBuffer(STATUS_CAP)
        self.uid: int | None = None
        self.workdir: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.fds: list[int] = []  # our ends of the extra pipes, and pidfds: closed at the end
        self.init_pidfd: int | None = None  # bwrap's pid-namespace init, once known
        self.timed_out = False

    # -- launch -------------------------------------------------------------------------------------

    def _command(self) -> tuple[list[str], dict[str, str], str, tuple[int, ...], int, int | None]:
        """argv, env, cwd, fds to pass, the status pipe's read end, and the bwrap status pipe's."""
        switch = self.uid is not None
        interpreter = find_interpreter(switch)
        if self.isolation is Isolation.NONE:
            limits = Limits.unlimited()
        else:
            # Without root the program's tasks count against the harness's own uid (see identity).
            # Under bwrap as a throw-away uid, bwrap and the namespace's init count too.
            extra = 2 if switch else identity.count_tasks(os.getuid())
            limits = Limits.for_run(timeout_s=self.timeout_s, memory_mb=self.memory_mb, extra_tasks=extra)
        status_r, status_w = os.pipe()
        self.fds += [status_r, status_w]
        tail = [interpreter.path, "-I", "-c", bootstrap_source(), str(status_w), *limits.argv()]
        if self.tag:
            tail.append(self.tag)
        if self.isolation is Isolation.BWRAP:
            bwrap = self.bwrap or find_bwrap()
            if bwrap is None:
                raise RuntimeError("bwrap is not installed")
            json_r, json_w = os.pipe()
            self.fds += [json_r, json_w]
            argv = bwrap_argv(bwrap, interpreter, json_status_fd=json_w) + tail
            # bwrap's own environment is what its pid-1 shows in /proc/1/environ inside: keep it bare.
            return argv, {"PATH": "/usr/bin:/bin"}, "/", (status_w, json_w), status_r, json_r
        self.workdir = tempfile.mkdtemp(prefix="evalkit-sandbox-")
        if switch:
            assert self.uid is not None
            os.chown(self.workdir, self.uid, self.uid)
        env = {**sandbox_env(), "HOME": self.workdir, "TMPDIR": self.workdir}
        if self._netns():  # unshare starts as root, enters the namespace, then drops to the uid and execs
            tail = [*netns_prefix(), "--setgid", str(self.uid), "--setuid", str(self.uid), "--", *tail]
        return tail, env, self.workdir, (status_w,), status_r, None

    def _netns(self) -> bool:
        """Whether this run gets its own empty network namespace through ``unshare`` (rlimits as root)."""
        return self.isolation is Isolation.RLIMITS and self.uid is not None and bool(netns_prefix())

    def execute(self) -> ExecResult:
        start = time.monotonic()
        try:
            if self.isolation is not Isolation.NONE and identity.can_switch_user():
                self.uid = identity.lease_uid()
            try:
                argv, env, cwd, pass_fds, status_r, json_r = self._command()
                # Popen switches to the uid itself unless unshare does (which clears the extra groups too).
                drop = self.uid if not self._netns() else None
                self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, pass_fds=pass_fds, cwd=cwd, env=env,
                                             start_new_session=True, user=drop, group=drop,
                                             extra_groups=None if drop is None else [])
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                return _harness_error(f"could not start the sandbox: {exc}", time.monotonic() - start)
            for fd in pass_fds:  # the child's ends: only the child may hold them, or EOF never comes
                os.close(fd)
                self.fds.remove(fd)
            duration = self._watch(status_r, json_r, start)
        finally:
            self._cleanup()
        assert self.proc is not None
        return decide(status=self.status.getvalue(), nonce=self.nonce, exit_code=self.proc.returncode,
                      timed_out=self.timed_out, timeout_s=self.timeout_s, duration_s=duration,
                      stdout=self.stdout, stderr=self.stderr, via_bwrap=self.isolation is Isolation.BWRAP)

    # -- watch --------------------------------------------------------------------------------------

    def _watch(self, status_r: int, json_r: int | None, start: float) -> float:
        """Run until exit or deadline, then kill the tree and drain; return the run's duration."""
        proc = self.proc
        assert proc is not None and proc.stdin and proc.stdout and proc.stderr
        sel = selectors.DefaultSelector()
        try:
            sinks = {proc.stdout.fileno(): self.stdout, proc.stderr.fileno(): self.stderr,
                     status_r: self.status}
            if json_r is not None:
                sinks[json_r] = self.json_status
            for fd in sinks:
                sel.register(fd, selectors.EVENT_READ, "read")
            payload = memoryview(self.nonce + b"\n" + self.source.encode("utf-8", "surrogatepass"))
            stdin_fd = proc.stdin.fileno()
            os.set_blocking(stdin_fd, False)  # a program that never reads stdin must not block the harness
            sel.register(stdin_fd, selectors.EVENT_WRITE, "write")
            pidfd = None
            with contextlib.suppress(AttributeError, OSError):
                pidfd = os.pidfd_open(proc.pid)
                self.fds.append(pidfd)
                sel.register(pidfd, selectors.EVENT_READ, "exit")
            deadline = start + self.timeout_s
            exited = False
            while not exited:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.timed_out = True
                    break
                for key, _ in sel.select(remaining if pidfd is not None else min(remaining, _POLL_S)):
                    if key.data == "read":
                        self._read(sel, key.fd, sinks[key.fd])
                    elif key.data == "write":
                        payload = self._write(sel, stdin_fd, payload)
                    else:
                        exited = True
                exited = exited or (pidfd is None and _exited(proc.pid))
            duration = time.monotonic() - start
            self._kill_tree()
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILLed: only a hung kernel delays it
                proc.wait(timeout=30)
            # The program is gone: nothing more to feed it, and its pidfd would stay ready forever.
            for key in [k for k in sel.get_map().values() if k.data != "read"]:
                sel.unregister(key.fd)
            drain_until = time.monotonic() + DRAIN_S
            while any(key.data == "read" for key in sel.get_map().values()):
                remaining = drain_until - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in sel.select(remaining):
                    if key.data == "read":
                        self._read(sel, key.fd, sinks[key.fd])
            return duration
        finally:
            sel.close()

    def _read(self, sel: selectors.BaseSelector, fd: int, sink: CappedBuffer) -> None:
        try:
            chunk = os.read(fd, (1 << 20) if sink.full else (1 << 16))
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            return
        sink.feed(chunk)
        if sink is self.json_status and self.init_pidfd is None:
            self._track_init()

    def _write(self, sel: selectors.BaseSelector, fd: int, payload: memoryview) -> memoryview:
        try:
            written = os.write(fd, payload[: 1 << 16])
        except BlockingIOError:
            return payload
        except OSError:  # the child closed stdin or died: it gets no more input
            written = len(payload)
        payload = payload[written:]
        if not payload:
            sel.unregister(fd)
            assert self.proc is not None and self.proc.stdin is not None
            self.proc.stdin.close()  # EOF: the bootstrap reads until it
        return payload

    def _track_init(self) -> None:
        """Hold a pidfd on bwrap's pid-namespace init, to kill the namespace even if bwrap is gone.

        bwrap reports the init's pid first thing. The pidfd pins that process; checking *after*
        opening it that its parent is our (unreaped, so unreusable) bwrap proves it is the init.
        """
        match = _CHILD_PID.search(self.json_status.getvalue())
        assert self.proc is not None
        if not match:
            return
        try:
            pidfd = os.pidfd_open(int(match.group(1)))
        except (AttributeError, OSError):
            return
        try:
            with open(f"/proc/{int(match.group(1))}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            ppid = -1
        if ppid == self.proc.pid:
            self.init_pidfd = pidfd
            self.fds.append(pidfd)
        else:
            os.close(pidfd)

    # -- kill and clean up --------------------------------------------------------------------------

    def _kill_tree(self) -> None:
        """SIGKILL everything the program may have started; safe to call more than once."""
        proc = self.proc
        if self.uid is not None:
            identity.kill_all(self.uid)
        if self.init_pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        if proc is not None and proc.returncode is None:
            # The child is not reaped yet, so its process group id still names only its own group.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                proc.kill()

    def _cleanup(self) -> None:
        proc = self.proc
        if proc is not None:
            if proc.returncode is None:  # we got here through an exception: nothing may survive it
                self._kill_tree()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        if self.workdir is not None:
            _rmtree(self.workdir)
        if self.uid is not None:
            if self.isolation is Isolation.RLIMITS:  # bwrap's /tmp was private and is gone already
                identity.kill_all(self.uid)  # nothing may still be writing while we sweep
                identity.sweep_files(self.uid)
            identity.release_uid(self.uid)


__all__ = ["bootstrap_source", "run_program", "run_programs"]
