"""Choosing the isolation level: bwrap when it works, else rlimits with a warning; none only on request."""

from __future__ import annotations

import threading
import warnings
from typing import Literal

from evalkit.errors import UserError
from evalkit.sandbox.bwrap import find_bwrap
from evalkit.sandbox.types import Isolation, Verdict

WEAKER_WARNING = ("evalkit sandbox: bubblewrap is unusable here ({reason}); model-written programs run with "
                  "resource limits{uid} but without namespaces: they can see the host's files and network. "
                  "Install bubblewrap (apt-get install bubblewrap) for full isolation.")

_PROBE = "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(lambda x: x + 1)\n"
_probe_lock = threading.Lock()
_probe_result: tuple[bool, str] | None = None
_warned = False


def bwrap_status() -> tuple[bool, str]:
    """Whether bwrap isolation works on this machine, and why not; probed once per process.

    The probe runs a real program through the real bwrap sandbox, so everything it depends on
    (user namespaces allowed, the interpreter reachable from inside, ...) is covered.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            if find_bwrap() is None:
                _probe_result = (False, "bwrap is not installed")
            else:
                from evalkit.sandbox.executor import run_program  # executor imports this module's neighbours

                result = run_program(_PROBE, isolation=Isolation.BWRAP, timeout_s=30)
                _probe_result = ((True, "") if result.verdict is Verdict.PASSED
                                 else (False, f"a test program {result.verdict.value}: {result.detail}"))
        return _probe_result


def _warn_weaker(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        from evalkit.sandbox.identity import can_switch_user

        uid = " and a throw-away uid" if can_switch_user() else ""
        warnings.warn(WEAKER_WARNING.format(reason=reason, uid=uid), RuntimeWarning, stacklevel=3)


def choose_isolation(requested: Literal["auto", "bwrap", "rlimits", "none"] = "auto",
                     allow_unsandboxed: bool = False) -> Isolation:
    """The isolation to run programs with.

    ``auto`` gives bwrap when it works here, else rlimits with a one-time ``RuntimeWarning`` that
    isolation is weaker. ``bwrap`` raises :class:`UserError` when bwrap does not work; ``rlimits``
    is honoured (with the same warning). ``none`` runs programs with no isolation at all and is
    refused with :class:`UserError` unless ``allow_unsandboxed`` is true.
    """
    choices = ("auto", "bwrap", "rlimits", "none")
    if requested not in choices:
        raise UserError(f"unknown sandbox isolation {requested!r}; choose one of {', '.join(choices)}")
    if requested == "none":
        if not allow_unsandboxed:
            raise UserError("isolation 'none' runs model-written code with no sandbox at all; pass "
                            "allow_unsandboxed=True (--allow-unsandboxed) if that is really intended")
        return Isolation.NONE
    if requested == "rlimits":
        _warn_weaker("rlimits was requested")
        return Isolation.RLIMITS
    usable, reason = bwrap_status()
    if usable:
        return Isolation.BWRAP
    if requested == "bwrap":
        raise UserError(f"bwrap isolation was requested but does not work here: {reason}")
    _warn_weaker(reason)
    return Isolation.RLIMITS
