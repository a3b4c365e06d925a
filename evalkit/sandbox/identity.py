"""Who a sandboxed program runs as, and how everything it started is found and killed.

When the harness runs as root, every program runs as its own throw-away uid, drawn at random from
a range no real account uses. That buys three things that root cannot have:

* ``RLIMIT_NPROC`` is enforced (the kernel never enforces it for uid 0), so a fork bomb stops at
  a few dozen processes instead of exhausting the machine's pids;
* the program cannot signal, ptrace or read ``/proc/<pid>/environ`` of the harness or of any other
  program (each has a different uid), nor read root's private files;
* "every process of that uid" is exactly "everything this program started", wherever it went:
  a double-forked, ``setsid``-ed daemon escapes its process group but not its uid, and one
  ``kill(-1, SIGKILL)`` issued *as that uid* kills them all at once (the kernel walks the process
  list under a lock, so a fork bomb cannot outrun it).

Without root there is no second uid to use: see :func:`count_tasks` for how ``RLIMIT_NPROC`` is
set then, and :mod:`evalkit.sandbox` for what that leaves open.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterable

# 2**31 - 2**27 .. 2**31 - 1: far above any login uid or the usual subordinate-uid ranges of rootless
# containers (100000 + 65536 * n), still a positive 32-bit value that every tool handles.
UID_BASE = (1 << 31) - (1 << 27)
UID_SPAN = 1 << 27

# World-writable places a program running under rlimits (no private mount namespace) can leave files in.
WORLD_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")

_lock = threading.Lock()
_leased: set[int] = set()


def can_switch_user() -> bool:
    """True when the harness may run programs under another uid (it is root)."""
    return os.geteuid() == 0


def lease_uid() -> int:
    """Reserve a uid that no process on the machine (and no other run of this harness) is using.

    The caller must :func:`release_uid` it after the program and its leftovers are gone.
    """
    with _lock:
        for _ in range(64):
            uid = UID_BASE + secrets.randbelow(UID_SPAN)
            if uid not in _leased and not pids_of_uid(uid):
                _leased.add(uid)
                return uid
    raise RuntimeError("could not find a free sandbox uid")  # 64 collisions in 2**27 uids: impossible


def release_uid(uid: int) -> None:
    """Return ``uid`` to the pool."""
    with _lock:
        _leased.discard(uid)


def _status_fields(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as fh:
            return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    except OSError:  # the process ended while we looked
        return {}


def _proc_pids() -> Iterable[str]:
    try:
        return [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def pids_of_uid(uid: int) -> list[int]:
    """The pids of all processes whose real uid is ``uid`` (zombies included)."""
    found = []
    for pid in _proc_pids():
        uids = _status_fields(pid).get("Uid", "").split()
        if uids and int(uids[0]) == uid:
            found.append(int(pid))
    return found


def count_tasks(uid: int) -> int:
    """How many tasks (threads included) uid ``uid`` runs now: what ``RLIMIT_NPROC`` counts against.

    Without root, programs share the harness's uid, so their process limit must be set *above* what
    that uid already runs, or the program could not even start a thread.
    """
    total = 0
    for pid in _proc_pids():
        fields = _status_fields(pid)
        uids = fields.get("Uid", "").split()
        if uids and int(uids[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def kill_all(uid: int, *, attempts: int = 3) -> bool:
    """SIGKILL every process running as ``uid`` (never uid 0); True once none is left.

    The signal is sent by a shell that itself runs as ``uid``: ``kill(-1, ...)`` from such a process
    reaches exactly the processes of that uid, which no scan-then-kill loop from outside can promise
    while a fork bomb is running.
    """
    if uid == 0 or not can_switch_user():
        raise ValueError("kill_all needs root and a sandbox uid")
    sh = shutil.which("sh", path="/usr/bin:/bin") or "/bin/sh"
    for _ in range(attempts):
        # Zombies stay listed until their parent reaps them but hold no resources; ignore them.
        if not [pid for pid in pids_of_uid(uid) if _status_fields(str(pid)).get("State", "Z")[:1] != "Z"]:
            return True
        try:
            subprocess.run([sh, "-c", "kill -9 -1 2>/dev/null; exit 0"], user=uid, group=uid, extra_groups=[],
                           env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd="/", timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
    return not [pid for pid in pids_of_uid(uid) if _status_fields(str(pid)).get("State", "Z")[:1] != "Z"]


def sweep_files(uid: int, dirs: Iterable[str] = WORLD_WRITABLE_DIRS) -> list[str]:
    """Delete what ``uid`` left at the top of the world-writable directories; return the paths removed.

    Only top-level entries are looked at: anything deeper sits inside one of them (a directory the
    program created) or inside a directory it could not write to.
    """
    removed = []
    for top in dirs:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if info.st_uid != uid:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                continue
    return removed
