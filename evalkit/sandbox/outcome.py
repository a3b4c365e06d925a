"""Turning what was observed about one run into a verdict and a one-line explanation."""

from __future__ import annotations

import signal

from evalkit.sandbox.capture import CappedBuffer
from evalkit.sandbox.types import ExecResult, Verdict


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(buffer: CappedBuffer) -> str:
    lines = [line.strip() for line in buffer.text().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _exit_text(exit_code: int, via_bwrap: bool) -> str:
    if exit_code < 0:
        return f"killed by {_signal_name(-exit_code)}"
    if via_bwrap and exit_code > 128:  # bwrap reports a signal death of its child as 128 + the signal
        return f"exit status {exit_code} (killed by {_signal_name(exit_code - 128)}, or exited so)"
    return f"exit status {exit_code}"


def decide(*, status: bytes, nonce: bytes, exit_code: int | None, timed_out: bool, timeout_s: float,
           duration_s: float, stdout: CappedBuffer, stderr: CappedBuffer, via_bwrap: bool) -> ExecResult:
    """The verdict for one run.

    ``status`` is everything the sandbox wrote on the status pipe: ``S`` once the bootstrap had the
    program, ``T<reason>`` lines on tampering, ``P<nonce>`` after the program returned normally and
    passed the integrity checks. PASSED needs exactly ``SP<nonce>\\n`` and exit status 0, no timeout.
    """
    started = status.startswith(b"S")
    reports = status[1:].split(b"\n") if started else []
    tampering = [line[1:].decode("utf-8", "replace") for line in reports if line.startswith(b"T")]
    if not started:
        verdict = Verdict.ERROR
        why = _last_line(stderr) or "no output"
        detail = (f"the sandbox did not start within {timeout_s:g} s" if timed_out
                  else f"the sandbox failed to start ({why})")
    elif timed_out:
        verdict, detail = Verdict.TIMEOUT, f"still running after {timeout_s:g} s; its process tree was killed"
    elif tampering:
        verdict, detail = Verdict.FAILED, f"tampering detected: {tampering[0]}"
    elif exit_code == 0 and status[1:] == b"P" + nonce + b"\n":
        verdict, detail = Verdict.PASSED, "ran to the end and passed its checks"
    elif exit_code == 0 and status[1:]:
        verdict, detail = Verdict.FAILED, "exit status 0, but a forged or garbled marker"
    elif exit_code == 0:
        verdict, detail = Verdict.FAILED, "exit status 0 before the end of the program (no pass marker)"
    else:
        assert exit_code is not None  # only a timeout or a failed start leave it unknown
        detail = _exit_text(exit_code, via_bwrap)
        if status[1:].startswith(b"P"):
            detail += " after its checks had passed"
        last = _last_line(stderr)
        verdict, detail = Verdict.FAILED, f"{detail}: {last}" if last else detail
    for name, buffer in (("stdout", stdout), ("stderr", stderr)):
        if buffer.truncated:
            detail += f"; {name} truncated to {len(buffer.getvalue())} of {buffer.total} bytes"
    return ExecResult(verdict=verdict, passed=verdict is Verdict.PASSED,
                      exit_code=None if timed_out else exit_code, duration_s=duration_s,
                      stdout=stdout.text(), stderr=stderr.text(), detail=detail)
