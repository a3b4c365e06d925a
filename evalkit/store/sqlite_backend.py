"""The embedded backend: one SQLite file (the default store), through :mod:`evalkit.store.db`.

SQLite's locks are only as good as the filesystem's: on NFS, SMB, sshfs and cluster filesystems
``fcntl`` locks and WAL's shared memory are unreliable or absent, and two writers can corrupt the
file. So a store on such a mount is refused with advice to use PostgreSQL instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from evalkit.errors import UserError
from evalkit.store import db
from evalkit.store.backend import Connection, IntegrityError

T = TypeVar("T")

#: Filesystem types (the ``fstype`` of /proc/self/mountinfo) a SQLite store must not live on.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "lustre", "gpfs", "ceph",
    "fuse.ceph", "fuse.cephfs", "glusterfs", "fuse.glusterfs", "beegfs", "afs", "ocfs2", "gfs2", "fuse.s3fs",
    "fuse.rclone", "fuse.juicefs", "davfs", "fuse.davfs2",
})


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 ...).
    out, i = "", 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out += chr(int(code, 8))
            i += 4
        else:
            out += field[i]
            i += 1
    return out


def mount_fstype(path: Path, mountinfo: str) -> str:
    """The filesystem type of the mount holding ``path`` (absolute, resolved), from ``mountinfo``'s text.

    The longest mount point that is ``path`` or one of its parents wins (later lines win ties: a
    mount over a mount hides the first). Returns ``""`` when no line matches.
    """
    best, best_len = "", -1
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = Path(_unescape(fields[4]))
        if (path == point or point in path.parents) and len(point.parts) >= best_len:
            best, best_len = right.split()[0], len(point.parts)
    return best


def network_filesystem(path: Path, mountinfo_file: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The network filesystem type ``path`` (a file that may not exist yet) is on, or ``None``.

    ``None`` too where the mount table cannot be read (not Linux): the check is a guard, not a gate.
    """
    try:
        text = mountinfo_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fstype = mount_fstype(path.resolve(), text)
    return fstype if fstype in NETWORK_FILESYSTEMS else None


class _Conn:
    """sqlite3's connection behind :class:`~evalkit.store.backend.Connection` (rows are ``sqlite3.Row``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self._conn.executemany(sql, parameters)


class SqliteBackend:
    """A store in the SQLite file ``path`` (created, with its folder, when missing)."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self.location = str(path)
        fstype = network_filesystem(path.absolute())
        if fstype is not None:
            raise UserError(
                f"{path}: is on a network filesystem ({fstype}), where SQLite's locking is unreliable "
                f"and concurrent writers can corrupt the store; use a PostgreSQL store "
                f"(--store postgresql://...) or a local path"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = db.connect(path)
        except sqlite3.DatabaseError as error:
            if db.is_lock_error(error):
                raise
            raise UserError(f"{path}: expected an evalkit results database ({error})") from None
        try:
            db.migrate(conn)
        except db.SchemaTooNewError as error:
            conn.close()
            raise UserError(f"{path}: {error}") from None
        except sqlite3.DatabaseError as error:
            conn.close()
            if db.is_lock_error(error):
                raise
            raise UserError(f"{path}: expected an evalkit results database ({error})") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._wrapped = _Conn(conn)

    def write(self, work: Callable[[Connection], T]) -> T:
        try:
            return db.write_transaction(self._conn, lambda c: work(cast(Connection, self._wrapped)))
        except sqlite3.IntegrityError as error:
            raise IntegrityError(str(error)) from error

    def read(self, work: Callable[[Connection], T]) -> T:
        return db.read_transaction(self._conn, lambda c: work(cast(Connection, self._wrapped)))

    def schema_version(self) -> int:
        return db.read_transaction(self._conn, db.schema_version)

    def has_table(self, name: str) -> bool:
        return self.read(lambda c: c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n",
                                             {"n": name}).fetchone() is not None)

    def data_version(self) -> int:
        # Changes when another connection commits (a commit in WAL mode leaves the file's mtime alone).
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def doc_id(self, value: int | str) -> Any:
        # The samples.doc_id column has no type: integers stay integers and sort before text.
        return value

    def close(self) -> None:
        self._conn.close()
