"""The sandbox's API and ordinary behaviour: isolation choice, verdicts, output capture, batches.

The hostile programs are in test_hostile.py; here honest and merely buggy programs check that the
sandbox scores them as a plain interpreter would (and that its assert guard stays out of the way).
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import warnings
from pathlib import Path

import pytest

from evalkit.errors import UnavailableError, UserError
from evalkit.sandbox import (
    ExecResult,
    Isolation,
    Verdict,
    bwrap_status,
    choose_isolation,
    run_program,
    run_programs,
)
from evalkit.sandbox import executor as executor_module
from evalkit.sandbox import isolation as isolation_module
from evalkit.sandbox.capture import CappedBuffer
from evalkit.sandbox.interpreter import Interpreter, hidden_roots

BWRAP_OK, BWRAP_WHY = bwrap_status()
ISOLATIONS = [
    pytest.param(Isolation.BWRAP, marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bwrap: {BWRAP_WHY}")),
    Isolation.RLIMITS,
    Isolation.NONE,
]


def program(completion: str, tests: str = "assert candidate(1) == 2") -> str:
    """A HumanEval-shaped program around ``completion`` (the body of ``f``) and ``tests``."""
    def body(text: str) -> str:
        return textwrap.indent(textwrap.dedent(text).strip(), "    ")

    return f"def f(x):\n{body(completion)}\n\n\ndef check(candidate):\n{body(tests)}\n\n\ncheck(f)\n"


def run(source: str, isolation: Isolation, **kw: object) -> ExecResult:
    return run_program(source, isolation=isolation, **kw)  # type: ignore[arg-type]


# -- choose_isolation -----------------------------------------------------------------------------


def test_none_needs_the_explicit_flag() -> None:
    with pytest.raises(UserError, match="allow_unsandboxed: true"):
        choose_isolation("none")
    assert choose_isolation("none", allow_unsandboxed=True) is Isolation.NONE


def test_unknown_isolation_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown sandbox isolation"):
        choose_isolation("docker")  # type: ignore[arg-type]


@pytest.mark.skipif(not BWRAP_OK, reason=f"bwrap: {BWRAP_WHY}")
def test_auto_prefers_bwrap() -> None:
    assert choose_isolation() is Isolation.BWRAP
    assert choose_isolation("bwrap") is Isolation.BWRAP


MISSING_BWRAP = "/nonexistent/bin/bwrap"


@pytest.mark.parametrize("requested", ["auto", "bwrap"])
def test_refuses_to_run_unisolated_where_bwrap_cannot_run(requested: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent (or warned) fallback to rlimits
        with pytest.raises(UnavailableError) as info:
            choose_isolation(requested, bwrap=MISSING_BWRAP)  # type: ignore[arg-type]
    line = str(info.value)
    assert "\n" not in line and f"no bwrap executable at {MISSING_BWRAP}" in line
    assert "install it (apt-get install bubblewrap)" in line and "--isolation rlimits" in line
    assert "read what your user can read and open network connections" in line
    assert bwrap_status(MISSING_BWRAP) == (False, f"no bwrap executable at {MISSING_BWRAP}")


def test_rlimits_chosen_explicitly_runs_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation_module, "_warned", False)
    with pytest.warns(RuntimeWarning, match="isolation rlimits"):
        assert choose_isolation("rlimits", bwrap=MISSING_BWRAP) is Isolation.RLIMITS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        assert choose_isolation("rlimits", bwrap=MISSING_BWRAP) is Isolation.RLIMITS
    assert run(program("return x + 1"), Isolation.RLIMITS).verdict is Verdict.PASSED


class _Listener:
    """A TCP listener on the loopback of the test's own network namespace; records who connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the network namespace under rlimits needs root")
def test_rlimits_as_root_has_its_own_network_namespace() -> None:
    assert isolation_module.netns_prefix(), "unshare --net does not work here"
    listener = _Listener()
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5):
            pass  # the listener works from the parent's namespace
        source = program("return x + 1", f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {listener.port}), timeout=2).close()
                raise SystemExit("reached the parent's loopback")
            except OSError:
                pass
            assert candidate(1) == 2
            """)
        result = run(source, Isolation.RLIMITS)
        assert result.verdict is Verdict.PASSED, (result.detail, result.stdout, result.stderr)
        assert listener.connections == 1  # only the test's own connection
    finally:
        listener.sock.close()


# -- verdicts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=str)
def test_verdicts_of_ordinary_programs(isolation: Isolation) -> None:
    sources = [
        program("return x + 1") + "print('hello')\n",
        program("return x"),
        program("return 1 / 0"),
        "def f(x:\n",
        "import sys\nsys.exit(3)\n",
        "while True:\n    pass\n",
    ]
    passed, wrong, error, syntax, exit3, loop = run_programs(sources, isolation=isolation, timeout_s=2.0)
    assert (passed.verdict, passed.passed, passed.exit_code) == (Verdict.PASSED, True, 0)
    assert passed.stdout == "hello\n"
    assert (wrong.verdict, wrong.exit_code) == (Verdict.FAILED, 1)
    assert wrong.detail == "exit status 1: AssertionError" and "assert candidate(1) == 2" in wrong.stderr
    assert error.verdict is Verdict.FAILED and "ZeroDivisionError" in error.detail
    assert syntax.verdict is Verdict.FAILED and "SyntaxError" in syntax.detail
    assert (exit3.verdict, exit3.exit_code) == (Verdict.FAILED, 3)
    assert (loop.verdict, loop.exit_code, loop.passed) == (Verdict.TIMEOUT, None, False)
    assert 2.0 <= loop.duration_s < 4.0


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=str)
def test_output_is_capped_and_decoded_leniently(isolation: Isolation) -> None:
    chatty = "import sys\nsys.stdout.write('y' * 300_000)\nsys.stderr.buffer.write(b'\\xff\\n')\n"
    flood = program("return x + 1") + chatty
    result = run(flood, isolation, output_cap_bytes=1000)
    assert result.verdict is Verdict.PASSED  # a chatty program is not a failing one
    assert result.stdout == "y" * 1000
    assert "stdout truncated to 1000 of 300000 bytes" in result.detail
    assert result.stderr == "\ufffd\n"


@pytest.mark.parametrize("isolation", ISOLATIONS, ids=str)
def test_program_sees_an_empty_stdin_and_a_bare_environment(isolation: Isolation) -> None:
    source = program("return x + 1", """
        import os, sys
        assert sys.stdin.read() == ""  # the nonce was consumed before the program started
        assert set(os.environ) <= {"PATH", "HOME", "LANG", "TMPDIR", "PWD", "LC_CTYPE"}, sorted(os.environ)
        assert os.getcwd() == os.environ["HOME"]
        with open("scratch.txt", "w") as fh:  # the work directory is writable
            fh.write("ok")
        assert candidate(1) == 2
        """)
    result = run(source, isolation)
    assert result.verdict is Verdict.PASSED, result.stderr


@pytest.mark.skipif(not BWRAP_OK, reason=f"bwrap: {BWRAP_WHY}")
def test_bwrap_hides_home_project_and_store() -> None:
    paths = [str(p) for p in hidden_roots()]
    source = program("return x + 1", f"""
        import os, socket
        for path in {paths!r}:
            assert not os.path.isdir(path) or os.listdir(path) in ([".pyenv"], [".local"]), path
        assert not os.path.exists("/work") and not os.path.exists("/home/" + "x")
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=1)
            raise AssertionError("network reachable")
        except OSError:
            pass
        assert candidate(1) == 2
        """)
    result = run(source, Isolation.BWRAP)
    assert result.verdict is Verdict.PASSED, result.stderr


# -- the assert guard -----------------------------------------------------------------------------


ASSERT_ZOO = '''
import collections, enum, math, os, pathlib, random
from fractions import Fraction
from typing import List, NamedTuple, Tuple

Point = collections.namedtuple("Point", "x y")


class Pair(NamedTuple):
    a: int
    b: str


class Color(enum.Enum):
    RED = 1


def f(xs: List[int]) -> Tuple[int, ...]:
    return tuple(sorted(xs))


def check(candidate):
    assert candidate([3, 1, 2]) == (1, 2, 3)
    assert candidate([3, 1, 2])[1:] == (2, 3) and candidate([3, 1, 2])[::-1][0] == 3
    assert abs(sum(candidate([1, 2])) - 3.0) < 1e-6
    assert math.isclose(1.0, 1.0 + 1e-12)
    assert all(candidate([x]) == (x,) for x in range(5))
    assert [candidate([y])[0] for y in range(3)] == [0, 1, 2]
    assert {k: v for k, v in [(1, 2)]} == {1: 2}
    assert (n := len(candidate([1, 2]))) == 2 and n == 2
    assert list(map(lambda t: t * 2, candidate([1]))) == [2]
    assert f"{candidate([1])[0]:>3}" == "  1"
    assert Point(1, 2) == (1, 2) and Point(1, 2).x == 1 and Pair(1, "a") == (1, "a")
    assert collections.Counter("aab") == {"a": 2, "b": 1} and Fraction(1, 2) + 1 == Fraction(3, 2)
    assert os.environ["HOME"] and pathlib.PurePath("a") / "b" == pathlib.PurePath("a/b") and Color.RED != 2
    assert not candidate([]), "empty"
    assert isinstance(candidate([1]), tuple) and candidate([2, 1]) != (2, 1)
    assert [*candidate([2, 1]), 3] == [1, 2, 3] and dict(**{"a": 1}) == {"a": 1}
    assert random.Random(0).random() == random.Random(0).random()
    assert 1 < 2 < 3 and "abc"[1] in {"b", "c"} and None is None
    assert True if candidate([1]) else False
    grid = [[1, 2], [3, 4]]
    assert grid[1][0] == 3


check(f)
'''


def test_assert_guard_accepts_plain_data() -> None:
    result = run(ASSERT_ZOO, Isolation.BWRAP if BWRAP_OK else Isolation.RLIMITS)
    assert result.verdict is Verdict.PASSED, result.stderr


SPOOFS = {  # name: (class statement, the wrong answer f returns)
    "int_subclass": ("class A(int):\n    def __eq__(self, other):\n        return True\n", "A(0)"),
    "arithmetic": ("class A:\n    def __sub__(self, other):\n        return 0\n", "A()"),
    "library_function": ("import typing\nclass A:\n    __sub__ = typing.cast  # library code\n", "A()"),
    "counter_subclass": ("from collections import Counter\nclass A(Counter):\n    __sub__ = lambda s, o: 0\n",
                         "A()"),
}


def test_assert_guard_rejects_spoofing_values() -> None:
    tests = "assert abs(candidate(1) - 2) < 1e-9"
    sources = [cls + "\n" + program(f"return {answer}", tests) for cls, answer in SPOOFS.values()]
    sources.append(program("from unittest import mock\nreturn mock.ANY", "assert candidate(1) == 2"))
    results = run_programs(sources, isolation=Isolation.RLIMITS)
    for name, result in zip([*SPOOFS, "mock_any"], results):
        assert result.verdict is Verdict.FAILED, name
        assert "tampering detected" in result.detail, (name, result.detail)
    assert all("answers must be plain data" in r.detail for r in results[:-1])
    assert "unittest.mock" in results[-1].detail


# -- batches and harness errors -------------------------------------------------------------------


def test_run_programs_keeps_order_and_reports_progress() -> None:
    sources = [program("return x + 1") + f"print({i})\n" for i in range(7)]
    seen: list[int] = []
    results = run_programs(sources, isolation=Isolation.RLIMITS, workers=3, progress=seen.append)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(7)]
    assert seen == list(range(1, 8))


def test_one_harness_failure_does_not_break_the_batch() -> None:
    sources = [program("return x + 1"), None, program("return x + 1")]
    results = run_programs(sources, isolation=Isolation.RLIMITS)  # type: ignore[arg-type]
    assert [r.verdict for r in results] == [Verdict.PASSED, Verdict.ERROR, Verdict.PASSED]
    assert "source must be str" in results[1].detail


@pytest.mark.parametrize("isolation", [ISOLATIONS[0], Isolation.RLIMITS], ids=str)
def test_a_sandbox_that_cannot_start_is_a_harness_error(isolation: Isolation,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Interpreter(path="/nonexistent/python3", prefix="/usr", version="3.11")
    monkeypatch.setattr(executor_module, "find_interpreter", lambda switch: broken)
    result = run(program("return x + 1"), isolation)
    assert (result.verdict, result.passed) == (Verdict.ERROR, False), result.detail
    assert "start" in result.detail


def test_invalid_options_raise() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run_program("pass", isolation=Isolation.RLIMITS, timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        run_programs(["pass"], isolation=Isolation.RLIMITS, memory_mb=1)
    with pytest.raises(TypeError, match="isolation"):
        run_programs(["pass"])


def test_no_work_directory_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_module.tempfile, "tempdir", str(tmp_path))
    locked = "import os\nos.makedirs('a/b')\nos.chmod('a', 0)\nassert candidate(1) == 2"
    result = run(program("return x + 1", locked), Isolation.RLIMITS)
    assert result.verdict is Verdict.PASSED, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_capped_buffer() -> None:
    buffer = CappedBuffer(4)
    for chunk in (b"ab", b"cdef", b"gh"):
        buffer.feed(chunk)
    assert (buffer.getvalue(), buffer.total, buffer.truncated, buffer.full) == (b"abcd", 8, True, True)
    assert CappedBuffer(0).text() == ""
