"""Which Python runs the programs, and which part of the file system it needs.

The harness usually runs from a virtual environment inside the project, often on a Python that
lives under ``$HOME`` (pyenv). Neither may be visible to a program: under bwrap only ``/usr``, a few
files of ``/etc`` and the interpreter's own installation prefix are mounted. So the program runs on
the *base* interpreter of the harness's environment (never the venv: its site-packages stay hidden)
and its installation prefix is mounted read-only at the same path, exposing that installation and
nothing else of the directory around it.

When programs run under a throw-away uid (the harness is root), that uid must also be able to read
the interpreter: a pyenv Python under a ``0700`` ``/root`` is not. The choice then falls back to a
system Python of the same minor version (``/usr/bin/python3.11``), then to any system ``python3``.
Each candidate is checked by actually starting it as such a uid, once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from evalkit.sandbox import identity

_QUERY = "import sys; print(sys.base_prefix); print('%d.%d' % sys.version_info[:2])"


@dataclass(frozen=True)
class Interpreter:
    """A usable interpreter: ``path`` to execute, ``prefix`` (real path) to mount for its stdlib."""

    path: str
    prefix: str
    version: str


def project_root() -> Path:
    """The directory that holds the ``evalkit`` package (the checkout, in development)."""
    return Path(__file__).resolve().parents[2]


def hidden_roots() -> list[Path]:
    """Directories a program must never see: ``$HOME``, the project and the evalkit home (the store)."""
    roots = [Path.home(), project_root()]
    from evalkit.config import current_environment  # EVALKIT_HOME, read once at the CLI edge

    roots.append(current_environment().home)
    return [Path(os.path.realpath(r)) for r in roots]


def exposes_hidden(prefix: str) -> bool:
    """True when mounting ``prefix`` would reveal a hidden root (it is one of them, or contains one).

    A prefix *inside* ``$HOME`` (``~/.pyenv/versions/3.11.7``) is fine: only that subtree is mounted.
    """
    real = Path(os.path.realpath(prefix))
    return any(real == root or real in root.parents for root in hidden_roots())


def _base_executable() -> str:
    # In a venv sys.executable is the venv's link; _base_executable is the interpreter it points to.
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def candidates() -> list[str]:
    """Interpreters to try, best first: the harness's own base interpreter, then system ones."""
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    paths = [_base_executable()]
    for directory in ("/usr/bin", "/usr/local/bin"):
        paths.append(f"{directory}/python{minor}")
    for directory in ("/usr/bin", "/usr/local/bin"):
        paths.append(f"{directory}/python3")
    unique: list[str] = []
    for path in paths:
        if os.path.exists(path) and path not in unique:
            unique.append(path)
    return unique


def _probe(path: str, uid: int | None) -> Interpreter | None:
    kwargs: dict = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
    try:
        out = subprocess.run([path, "-I", "-S", "-c", _QUERY], capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, cwd="/", check=False, **kwargs)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return None
    prefix = os.path.realpath(lines[0])
    if exposes_hidden(prefix):
        return None
    return Interpreter(path=path, prefix=prefix, version=lines[1])


_cache: dict[bool, Interpreter | None] = {}
_cache_lock = threading.Lock()


def find_interpreter(switch_user: bool) -> Interpreter:
    """The interpreter programs run on; ``switch_user`` when they run under a throw-away uid.

    Raises ``RuntimeError`` when no candidate works (the caller reports it as a harness error).
    """
    with _cache_lock:
        if switch_user not in _cache:
            found = None
            uid = identity.lease_uid() if switch_user else None
            try:
                for path in candidates():
                    found = _probe(path, uid)
                    if found is not None:
                        break
            finally:
                if uid is not None:
                    identity.release_uid(uid)
            _cache[switch_user] = found
        found = _cache[switch_user]
    if found is None:
        who = "an unprivileged uid" if switch_user else "this user"
        raise RuntimeError(f"no Python interpreter usable by {who} among {candidates()}")
    return found
