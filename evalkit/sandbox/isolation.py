"""Choosing the isolation level: bwrap when it works here, else a refusal that names the fix.

``auto`` never degrades on its own: where bubblewrap cannot run, running model-written code stops
with :data:`REFUSAL` (an :class:`~evalkit.errors.UnavailableError`). ``rlimits`` is honoured only
when asked for by name; ``none`` only with the explicit ``allow_unsandboxed`` opt-in.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import warnings
from typing import Literal

from evalkit.errors import UnavailableError, UserError
from evalkit.sandbox.bwrap import find_bwrap
from evalkit.sandbox.types import Isolation, Verdict

CHOICES = ("auto", "bwrap", "rlimits", "none")
REFUSAL = ("evalkit sandbox: bubblewrap cannot run here ({reason}), so model-written code is not run; install it "
           "(apt-get install bubblewrap), or choose isolation: rlimits (--isolation rlimits), accepting that the "
           "code can then read what your user can read and open network connections")
WEAKER_WARNING = ("evalkit sandbox: isolation rlimits: model-written programs run with resource limits{uid}{net} "
                  "but without bubblewrap: they can read the host's files{open}")

_PROBE = "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(lambda x: x + 1)\n"
_probe_lock = threading.Lock()
_probes: dict[str, tuple[bool, str]] = {}  # bwrap path -> its probe's outcome
_warned = False


def bwrap_status(bwrap: str | None = None) -> tuple[bool, str]:
    """Whether bwrap isolation works on this machine, and why not; each executable probed once per process.

    ``bwrap`` is the executable to check (default: :func:`~evalkit.sandbox.bwrap.find_bwrap`'s). The
    probe runs a real program through the real bwrap sandbox, so everything it depends on (user
    namespaces allowed, the interpreter reachable from inside, ...) is covered.
    """
    path = bwrap if bwrap is not None else find_bwrap()
    if path is None:
        return False, "bwrap is not installed"
    if not os.access(path, os.X_OK):
        return False, f"no bwrap executable at {path}"
    with _probe_lock:
        if path not in _probes:
            from evalkit.sandbox.executor import run_program  # the executor imports this module's neighbours

            result = run_program(_PROBE, isolation=Isolation.BWRAP, timeout_s=30, bwrap=path)
            _probes[path] = ((True, "") if result.verdict is Verdict.PASSED
                             else (False, f"a test program {result.verdict.value}: {result.detail}"))
        return _probes[path]


@functools.cache
def netns_prefix() -> tuple[str, ...]:
    """``unshare --net`` where it works (as root, kernel permitting), else ``()``.

    Under rlimits as root, each program starts through this prefix (followed by ``--setgid`` and
    ``--setuid`` its throw-away uid): it gets an empty network namespace, whose loopback is down,
    so it can reach no address at all, the host's own services included.
    """
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "--net", "--", "true"], capture_output=True, timeout=10,
                            check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return (unshare, "--net") if ok else ()


def unsandboxed_refusal(requested: str, allow_unsandboxed: bool) -> str | None:
    """The one-line refusal of isolation ``none`` without its explicit opt-in; None when it may run."""
    if requested == "none" and not allow_unsandboxed:
        return ("isolation none runs model-written code with no sandbox at all; it needs allow_unsandboxed: true "
                "(--allow-unsandboxed) if that is really intended")
    return None


def _warn_weaker() -> None:
    global _warned
    if not _warned:
        _warned = True
        from evalkit.sandbox.identity import can_switch_user

        isolated_net = can_switch_user() and bool(netns_prefix())
        uid = " under a throw-away uid" if can_switch_user() else ""
        net = " in an empty network namespace" if isolated_net else ""
        open_ = "" if isolated_net else " and open network connections"
        warnings.warn(WEAKER_WARNING.format(uid=uid, net=net, open=open_), RuntimeWarning, stacklevel=3)


def choose_isolation(requested: Literal["auto", "bwrap", "rlimits", "none"] = "auto",
                     allow_unsandboxed: bool = False, *, bwrap: str | None = None) -> Isolation:
    """The isolation to run programs with.

    ``auto`` and ``bwrap`` give bwrap when it works here (``bwrap``: the executable to use, default
    the one on ``PATH``); where it does not, they raise :class:`~evalkit.errors.UnavailableError`
    with :data:`REFUSAL`, one line naming the fix. ``rlimits`` is honoured, with a one-time
    ``RuntimeWarning`` saying what it leaves open. ``none`` runs programs with no isolation at all
    and is refused with :class:`UserError` unless ``allow_unsandboxed`` is true.
    """
    if requested not in CHOICES:
        raise UserError(f"unknown sandbox isolation {requested!r}; choose one of {', '.join(CHOICES)}")
    refusal = unsandboxed_refusal(requested, allow_unsandboxed)
    if refusal is not None:
        raise UserError(refusal)
    if requested == "none":
        return Isolation.NONE
    if requested == "rlimits":
        _warn_weaker()
        return Isolation.RLIMITS
    usable, reason = bwrap_status(bwrap)
    if not usable:
        raise UnavailableError(REFUSAL.format(reason=reason))
    return Isolation.BWRAP
