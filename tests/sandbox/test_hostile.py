"""Hostile programs against the sandbox: each one tries to cheat, escape or hurt the host.

For each isolation the whole set runs as one batch through ``run_programs``, with two honest
programs (first and last) that must still pass. Per program we check the verdict and that the
parent's secret never shows up in what came back; per batch, that the host is untouched: the canary
file is intact, nothing was written to ``$HOME`` or the host's ``/tmp``, the TCP listener saw no
connection, no process carrying the batch's token is left, and the batch finished in bounded time.
"""

from __future__ import annotations

import os
import secrets
import socket
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from evalkit.sandbox import ExecResult, Isolation, Verdict, bwrap_status, run_programs

TIMEOUT_S = 3.0
WORKERS = 6
SECRET_VAR = "EVALKIT_TEST_SECRET"


@dataclass(frozen=True)
class Ctx:
    """What the hostile programs are told literally about the host they try to attack."""

    token: str  # in every program and on every sandbox's command line: finds leftover processes
    canary: Path
    outside: Path  # a directory of the test's, outside the sandbox
    home: str
    port: int
    harness_pid: int


def humaneval(ctx: Ctx, name: str, prelude: str = "", body: str = "return 0",
              check: str = "assert candidate(1) == 2") -> str:
    """A HumanEval-shaped program: top-level code of the completion, ``f``, ``check`` and ``check(f)``.

    ``f`` is wrong unless told otherwise, so a pass can only come from fooling the harness.
    """
    return (f"# {ctx.token} {name}\n{textwrap.dedent(prelude).strip()}\n\n"
            f"def f(x):\n    {body}\n\n\ndef check(candidate):\n    {check}\n    return None\n\n\ncheck(f)\n")


HONEST = "return x + 1"


@dataclass(frozen=True)
class Case:
    name: str
    program: Callable[[Ctx], str]
    verdicts: frozenset[Verdict]  # acceptable verdicts (never PASSED, except for the honest ones)
    detail: str = ""  # a fragment the detail must contain, when the reason matters


FAIL, TIME = frozenset({Verdict.FAILED}), frozenset({Verdict.TIMEOUT})
FAIL_OR_TIME = FAIL | TIME

CASES = [
    Case("honest_first", lambda c: humaneval(c, "honest_first", body=HONEST), frozenset({Verdict.PASSED})),
    Case("fork_bomb", lambda c: humaneval(c, "fork_bomb", """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """), FAIL_OR_TIME),
    Case("infinite_loop", lambda c: humaneval(c, "infinite_loop", "while True:\n    pass"), TIME),
    Case("memory_bomb", lambda c: humaneval(c, "memory_bomb", """
        blocks = []
        while True:
            blocks.append(bytes(256 << 20))  # calloc: address space grows at once, RAM lazily
        """), FAIL, "MemoryError"),
    Case("disk_fill", lambda c: humaneval(c, "disk_fill", f"""
        import os
        for path in ["fill-%d.bin" % i for i in range(8)] + ["/tmp/evalkit-fill-{c.token}"]:
            try:
                with open(path, "wb") as fh:
                    while True:
                        fh.write(bytes(1 << 20))
            except OSError as exc:
                print(path, exc)
        """), FAIL_OR_TIME),
    Case("delete_canary", lambda c: humaneval(c, "delete_canary", f"""
        import os
        try:
            os.remove({str(c.canary)!r})
        except OSError as exc:
            print("remove:", exc)
        try:
            with open({str(c.canary)!r}, "w") as fh:
                fh.write("pwned")
        except OSError as exc:
            print("overwrite:", exc)
        """), FAIL),
    Case("write_home", lambda c: humaneval(c, "write_home", f"""
        try:
            with open({c.home!r} + "/evalkit-pwned-{c.token}", "w") as fh:
                fh.write("pwned")
        except OSError as exc:
            print(exc)
        """), FAIL),
    Case("connect_listener", lambda c: humaneval(c, "connect_listener", f"""
        import socket
        try:
            with socket.create_connection(("127.0.0.1", {c.port}), timeout=1) as s:
                s.sendall(b"connect_listener")
        except OSError as exc:
            print(exc)
        """), FAIL),
    Case("steal_env_secret", lambda c: humaneval(c, "steal_env_secret", f"""
        import os, sys
        print(dict(os.environ))
        targets = ["/proc/%d/environ" % os.getppid(), "/proc/{c.harness_pid}/environ", "/proc/1/environ"]
        targets += ["/proc/%s/environ" % p for p in os.listdir("/proc") if p.isdigit()]
        for path in targets:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                print(path, data)
                sys.stderr.write(repr(data))
            except OSError as exc:
                print(path, exc)
        """), FAIL),
    Case("kill_parent", lambda c: humaneval(c, "kill_parent", f"""
        import os, signal
        for pid in (os.getppid(), 1, {c.harness_pid}):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError as exc:
                print(pid, exc)
        """), FAIL),
    Case("kill_everything", lambda c: humaneval(c, "kill_everything", """
        import os, signal
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        """), FAIL),
    Case("ignore_signals", lambda c: humaneval(c, "ignore_signals", """
        import signal
        for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            pass
        """), TIME),
    Case("daemon", lambda c: humaneval(c, "daemon", f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
                for path in ({str(c.outside / ("daemon-" + c.token))!r}, "/tmp/evalkit-daemon-{c.token}"):
                    try:
                        open(path, "w").close()
                    except OSError:
                        pass
                os._exit(0)
            os._exit(0)
        os.wait()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sh", ["/bin/sh", "-c", "sleep 30", "{c.token}"])
            os._exit(0)
        os.wait()
        """), FAIL),
    Case("recursion_bomb", lambda c: humaneval(c, "recursion_bomb", """
        import sys
        sys.setrecursionlimit(10**6)
        def down(n):
            return list(map(down, [n + 1]))  # through C: the interpreter's own stack overflows
        down(0)
        """), FAIL, "SIGSEGV"),
    Case("stdout_flood", lambda c: humaneval(c, "stdout_flood", """
        import sys
        chunk = "x" * (1 << 20)
        for _ in range(1024):
            sys.stdout.write(chunk)
        """), FAIL_OR_TIME),
    Case("sys_exit_early", lambda c: humaneval(c, "sys_exit_early", "import sys\nsys.exit(0)"), FAIL,
         "no pass marker"),
    Case("os_exit_early", lambda c: humaneval(c, "os_exit_early", "import os\nos._exit(0)"), FAIL,
         "no pass marker"),
    Case("close_stdout", lambda c: humaneval(c, "close_stdout", "import os\nos.close(1)\nos._exit(0)"), FAIL,
         "no pass marker"),
    Case("eq_always_true", lambda c: humaneval(c, "eq_always_true", """
        class Anything:
            def __eq__(self, other):
                return True
            __hash__ = None
        """, body="return Anything()"), FAIL, "tampering detected"),
    Case("patch_builtins_abs", lambda c: humaneval(c, "patch_builtins_abs", """
        import builtins
        builtins.abs = lambda x: 0
        """, check="assert abs(candidate(1) - 2) < 1e-9"), FAIL, "builtins.abs was replaced"),
    Case("patch_builtins_assert_print", lambda c: humaneval(c, "patch_builtins_assert_print", """
        import builtins
        builtins.AssertionError = type("AssertionError", (Exception,), {})
        builtins.print = lambda *args, **kwargs: None
        """), FAIL),
    Case("settrace_skip_asserts", lambda c: humaneval(c, "settrace_skip_asserts", """
        import sys
        def _tracer(frame, event, arg):
            if frame.f_code.co_name != "check":
                return None
            def _local(frame, event, arg):
                if event == "line" and frame.f_lineno == frame.f_code.co_firstlineno + 1:
                    frame.f_lineno = frame.f_code.co_firstlineno + 2  # jump over the assert
                return _local
            return _local
        sys.settrace(_tracer)
        """), FAIL, "sys.settrace"),
    Case("fake_marker", lambda c: humaneval(c, "fake_marker", """
        import os, secrets
        guess = secrets.token_hex(16).encode()
        print("P" + guess.decode())
        print("PASSED")
        for fd in range(3, 64):
            for message in (b"S", b"P" + guess + b"\\n", b"SP" + guess + b"\\n"):
                try:
                    os.write(fd, message)
                except OSError:
                    pass
        os._exit(0)
        """), FAIL),
    Case("nonce_hunt", lambda c: humaneval(c, "nonce_hunt", """
        import gc, os, re, sys
        hexes = re.compile(rb"[0-9a-f]{32}")
        found = set()
        def collect(value):
            if isinstance(value, str):
                value = value.encode("latin-1", "replace")
            if isinstance(value, (bytes, bytearray)):
                found.update(hexes.findall(bytes(value)))
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                collect(value)
            frame = frame.f_back
        try:
            for obj in gc.get_objects():
                for cell in getattr(obj, "__closure__", None) or ():
                    collect(cell.cell_contents)
        except Exception as exc:
            print("gc:", exc)
        try:
            with open("/proc/self/mem", "rb") as fh:
                collect(fh.read(1))
        except Exception as exc:
            print("mem:", exc)
        status_fd = int(open("/proc/self/cmdline", "rb").read().split(b"\\0")[4])
        for nonce in found:
            os.write(status_fd, b"P" + nonce + b"\\n")
        os._exit(0)
        """), FAIL),
    Case("honest_last", lambda c: humaneval(c, "honest_last", body=HONEST), frozenset({Verdict.PASSED})),
]
HOSTILE = [case for case in CASES if not case.name.startswith("honest")]
assert len(HOSTILE) >= 15


class Listener:
    """A TCP server on 127.0.0.1 that records whatever connects to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.seen.append(conn.recv(100))
                except OSError:
                    self.seen.append(b"")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@dataclass
class Batch:
    isolation: Isolation
    ctx: Ctx
    secret: str
    results: dict[str, ExecResult]
    wall_s: float
    leftovers: list[str]
    listener: Listener
    canary_text: str


def _token_processes(token: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if token in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def _isolations() -> list[object]:
    bwrap_ok, why = bwrap_status()
    no_root = "without root, rlimits cannot separate a program from the harness's own user (bwrap can)"
    return [pytest.param(Isolation.BWRAP, marks=pytest.mark.skipif(not bwrap_ok, reason=f"bwrap: {why}")),
            pytest.param(Isolation.RLIMITS, marks=pytest.mark.skipif(os.geteuid() != 0, reason=no_root))]


@pytest.fixture(scope="module", params=_isolations(), ids=lambda iso: iso.value)
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    isolation: Isolation = request.param
    outside = tmp_path_factory.mktemp(f"hostile-{isolation.value}")
    canary = outside / "canary.txt"
    canary_text = "canary " + secrets.token_hex(8)
    canary.write_text(canary_text)
    listener = Listener()
    secret = secrets.token_hex(16)
    os.environ[SECRET_VAR] = secret
    ctx = Ctx(token=f"evalkit-hostile-{secrets.token_hex(8)}", canary=canary, outside=outside,
              home=str(Path.home()), port=listener.port, harness_pid=os.getpid())
    try:
        start = time.monotonic()
        programs = [case.program(ctx) for case in CASES]
        results = run_programs(programs, isolation=isolation, timeout_s=TIMEOUT_S, workers=WORKERS,
                               tag=ctx.token)
        wall_s = time.monotonic() - start
        time.sleep(0.3)
        leftovers = _token_processes(ctx.token)
        yield Batch(isolation, ctx, secret, dict(zip([c.name for c in CASES], results)), wall_s, leftovers,
                    listener, canary_text)
    finally:
        del os.environ[SECRET_VAR]
        listener.close()
        for pid in _token_processes(ctx.token):  # never leave a leak behind, even when a test fails
            psutil.Process(int(pid.split(":")[0])).kill()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_verdict(batch: Batch, case: Case) -> None:
    result = batch.results[case.name]
    assert result.verdict in case.verdicts, (result.verdict, result.detail, result.stderr[-500:])
    assert result.passed is (result.verdict is Verdict.PASSED)
    if case.detail:
        assert case.detail in result.detail
    for text in (result.stdout, result.stderr, result.detail):
        assert batch.secret not in text
    assert len(result.stdout.encode()) <= 64 * 1024 + 3 * 1024  # capped (a cut character may grow by 2 bytes)


def test_stdout_flood_is_capped(batch: Batch) -> None:
    result = batch.results["stdout_flood"]
    assert "stdout truncated" in result.detail
    assert result.stdout.startswith("x" * 1000)


def test_host_files_untouched(batch: Batch) -> None:
    assert batch.ctx.canary.read_text() == batch.canary_text
    assert not Path(batch.ctx.home, f"evalkit-pwned-{batch.ctx.token}").exists()
    assert not Path(f"/tmp/evalkit-fill-{batch.ctx.token}").exists()
    assert not list(batch.ctx.outside.glob("daemon-*"))


def test_no_process_outlives_its_program(batch: Batch) -> None:
    assert batch.leftovers == []


def test_network_unreachable(batch: Batch) -> None:
    if batch.isolation is Isolation.BWRAP:
        assert batch.listener.seen == []
    else:
        # rlimits has no network namespace: the connection itself cannot be prevented; only the
        # program that tried may have reached the listener, and it still failed (test_verdict).
        assert set(batch.listener.seen) <= {b"connect_listener"}


def test_batch_is_bounded_and_harness_survives(batch: Batch) -> None:
    assert batch.wall_s < 60, batch.wall_s
    assert psutil.pid_exists(batch.ctx.harness_pid) and batch.ctx.harness_pid == os.getpid()
    assert batch.listener.thread.is_alive()
    honest = humaneval(batch.ctx, "after", body=HONEST)
    after = run_programs([honest, honest], isolation=batch.isolation, timeout_s=TIMEOUT_S)
    assert [r.verdict for r in after] == [Verdict.PASSED, Verdict.PASSED]
