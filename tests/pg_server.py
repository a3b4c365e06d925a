"""A throwaway PostgreSQL server for the tests: Debian's binaries, run as an unprivileged user, with its
data folder and unix socket in a temporary folder and no TCP port (nothing else on the machine can reach it).

``initdb`` refuses to run as root, so under root the server runs as the ``postgres`` user (which the
Debian package creates) through ``runuser``; as any other user it runs as that user.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SKIP_REASON = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): `make test` installs it"
_USER = "evalkit"


def find_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Server:
    """A running server; :meth:`new_database` hands out fresh databases, :meth:`stop` removes everything."""

    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._root = Path(tempfile.mkdtemp(prefix="evalkit-pg-"))
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            self._run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self._root, "postgres", "postgres")
        self.socket_dir = self._root  # short path: a unix socket path is limited to ~107 bytes
        data = self._root / "data"
        self._data = data
        self._names = itertools.count()
        self._pg(["initdb", "-D", str(data), "-U", _USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        self._pg(["pg_ctl", "-D", str(data), "-l", str(self._root / "server.log"), "-o", options, "-w", "start"])

    def _pg(self, command: list[str]) -> None:
        argv = [*self._run_as, str(self._bin / command[0]), *command[1:]]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")

    def url(self, database: str = "postgres") -> str:
        """A store URL of ``database`` on this server (over its unix socket)."""
        return f"postgresql://{_USER}@/{database}?host={self.socket_dir}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), user=_USER, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """Create an empty database (from template0: fast, and nothing in it) and return its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            self._pg(["pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


def rows(spec: str | Path, sql: str) -> list[tuple[object, ...]]:
    """``sql``'s rows, read straight from the database of store ``spec`` (a SQLite path or a PostgreSQL URL),
    not through the Store: what is really stored."""
    if isinstance(spec, str) and spec.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(spec) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    import sqlite3

    conn = sqlite3.connect(spec)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()
