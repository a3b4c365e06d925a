"""The sandbox's value types: how a program ended, what came back, and how it was isolated."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(str, Enum):  # noqa: UP042 - the API promises (str, Enum): str() is "Verdict.PASSED"
    """How one program ended, from the scorer's point of view."""

    PASSED = "passed"  # ran to the end, exit status 0, and the harness's pass marker came back intact
    FAILED = "failed"  # anything the program did wrong: an error, a wrong answer, an early exit, tampering
    TIMEOUT = "timeout"  # still running at the wall-clock limit; its whole process tree was killed
    ERROR = "error"  # the harness could not run it (sandbox failed to start, ...): not the program's fault


class Isolation(str, Enum):  # noqa: UP042 - as Verdict
    """How strongly a program is kept away from the host (see :mod:`evalkit.sandbox` for details)."""

    BWRAP = "bwrap"  # namespaces via bubblewrap: no network, no view of the host's files or processes
    RLIMITS = "rlimits"  # resource limits and an unprivileged uid (when root), but the host's view
    NONE = "none"  # a plain child process: only the timeout and the temporary working directory


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one program.

    ``passed`` is true exactly when ``verdict`` is :attr:`Verdict.PASSED`. ``exit_code`` is the
    exit status the harness observed (negative for a signal, as in :mod:`subprocess`; under bwrap a
    signal shows as 128 + its number), or ``None`` when the harness killed the program on timeout or
    it never started. ``stdout`` and ``stderr`` hold at most the configured number of bytes of each
    stream, decoded as UTF-8 with ``errors='replace'``; ``detail`` says in one line why the verdict
    is what it is (and whether output was truncated).
    """

    verdict: Verdict
    passed: bool
    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    detail: str
