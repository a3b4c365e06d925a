"""The bubblewrap command line: what a program sees when it runs under ``Isolation.BWRAP``.

The file system is built from an allow-list rather than by hiding parts of ``/``: the program sees
``/usr`` (and the ``/bin``, ``/lib*`` links into it), a handful of ``/etc`` files the dynamic loader
and Python read, the interpreter's installation prefix, a fresh ``/proc`` and ``/dev``, and two
small private tmpfs (its working directory and ``/tmp``). Everything else -- ``$HOME``, the project,
the results store, other users' files, the host's ``/tmp`` -- does not exist inside. The root is
remounted read-only after the mounts are made.

Namespaces: user (required for ``--disable-userns``; bwrap runs unprivileged anyway, as the
program's throw-away uid when the harness is root), network (only a loopback that reaches nothing),
pid (the program cannot see or signal host processes, and when its init exits the kernel kills
every process left inside), ipc, uts and cgroup where available. ``--die-with-parent`` kills the
sandbox if the harness dies; ``--new-session`` stops it from pushing keystrokes into a terminal.
The environment is cleared and rebuilt from four variables.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess

from evalkit.sandbox.interpreter import Interpreter
from evalkit.sandbox.limits import TMPFS_BYTES

WORKDIR = "/sandbox"
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf", "passwd",
        "group", "alternatives")
_TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def find_bwrap() -> str | None:
    """The path of the ``bwrap`` executable, or None."""
    fallback = (p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK))
    return shutil.which("bwrap") or next(fallback, None)


@functools.cache
def supported_options(bwrap: str) -> frozenset[str]:
    """The options this bwrap build knows (``--disable-userns`` needs 0.8, ``--size`` 0.5)."""
    try:
        help_run = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(word for word in help_run.stdout.split() if word.startswith("--"))


def sandbox_env() -> dict[str, str]:
    """The whole environment of a sandboxed program: nothing of the harness's leaks in."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}


def bwrap_argv(bwrap: str, interpreter: Interpreter, *, json_status_fd: int) -> list[str]:
    """The bwrap options, up to and including ``--``; the command follows."""
    known = supported_options(bwrap)
    argv = [bwrap, "--unshare-user", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    if "--disable-userns" in known:  # no nested user namespace: it would give back mount/net powers
        argv += ["--disable-userns", "--assert-userns-disabled"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for path in _TOP_LINKS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    etc = [f"/etc/{name}" for name in _ETC] + sorted(glob.glob("/etc/python3*"))
    for path in etc:
        argv += ["--ro-bind-try", path, path]
    prefix = interpreter.prefix
    if not (prefix == "/usr" or prefix.startswith("/usr/")):
        argv += ["--ro-bind", prefix, prefix]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for path in ("/tmp", WORKDIR):
        if "--size" in known:  # tmpfs lives in RAM: without a size, many small files could fill it
            argv += ["--size", str(TMPFS_BYTES)]
        argv += ["--tmpfs", path]
    argv += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for key, value in sandbox_env().items():
        argv += ["--setenv", key, value]
    argv += ["--json-status-fd", str(json_status_fd), "--"]
    return argv
