"""SQLite connections for the results store: pragmas, ordered migrations, retried transactions.

Several ``evalkit`` processes share one database file, so every connection runs in WAL mode
(readers never block the writer) with a generous busy timeout, every write transaction starts
with ``BEGIN IMMEDIATE`` (it takes the write lock up front instead of failing to upgrade a read
lock half-way), and whole transactions are retried when SQLite still reports "locked"/"busy".
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: How long one statement waits inside SQLite for a lock before reporting SQLITE_BUSY.
BUSY_TIMEOUT_S = 30.0
#: How long :func:`with_retry` keeps retrying a whole transaction that failed as locked/busy.
RETRY_DEADLINE_S = 120.0

_MIGRATION_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema step: applying it moves ``PRAGMA user_version`` from ``version - 1`` to ``version``."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Return the packaged ``migrations/NNNN_*.sql`` files ordered by version.

    Raises ``RuntimeError`` when the numbering is not exactly 1, 2, 3, ... (a packaging bug
    that would otherwise silently skip or reorder schema steps).
    """
    folder = resources.files("evalkit.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    check_migration_sequence(found)
    return found


def check_migration_sequence(migrations: Iterable[Migration]) -> None:
    """Raise ``RuntimeError`` unless the versions are exactly 1, 2, ..., N in order."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise RuntimeError(
                f"store migrations must be numbered 0001, 0002, ... without gaps; "
                f"expected version {expected}, found {migration.name}"
            )


def latest_version(migrations: list[Migration] | None = None) -> int:
    """Return the schema version a fully migrated database has."""
    migrations = load_migrations() if migrations is None else migrations
    return migrations[-1].version if migrations else 0


def is_lock_error(error: BaseException) -> bool:
    """True when ``error`` is SQLite saying another connection holds a lock (worth retrying)."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    message = str(error).lower()
    return "locked" in message or "busy" in message


def with_retry(action: Callable[[], T], deadline_s: float = RETRY_DEADLINE_S) -> T:
    """Run ``action`` and return its result, re-running it while it fails with a lock error.

    ``action`` must be a complete transaction (it is re-run from the start). Other errors, and a
    lock error after ``deadline_s`` seconds, propagate unchanged.
    """
    give_up_at = time.monotonic() + deadline_s
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as error:
            if not is_lock_error(error) or time.monotonic() >= give_up_at:
                raise
        # Jitter keeps two processes that collided from colliding again in lock-step.
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    # The transaction may already be gone (SQLite rolls back by itself on some errors).
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def write_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work(conn)`` in one ``BEGIN IMMEDIATE`` transaction, commit it, and return its result.

    The whole transaction is retried on lock errors; on any failure nothing of it is kept.
    """

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback_quietly(conn)
            raise
        return result

    return with_retry(attempt)


def read_transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work(conn)`` against one consistent snapshot of the database and return its result."""

    def attempt() -> T:
        # A deferred transaction is a read snapshot in WAL mode: statements inside it all see
        # the same committed state even while other processes keep writing.
        conn.execute("BEGIN DEFERRED")
        try:
            return work(conn)
        finally:
            _rollback_quietly(conn)

    return with_retry(attempt)


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` (creating the file if needed) with the store's pragmas set; no migrations.

    The connection is in autocommit mode: the store issues its own BEGIN/COMMIT.
    """
    conn = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        # The Store serialises use of its connection with a lock, so threads may share it.
        check_same_thread=False,
    )
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # Switching to WAL needs a brief exclusive lock, which can collide with another
        # process opening the same new file at the same moment; hence the retry.
        with_retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        # NORMAL is durable against a killed process in WAL mode (only a power loss can drop
        # the last commits) and avoids an fsync per small transaction.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the database's ``PRAGMA user_version`` (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def split_statements(sql: str) -> list[str]:
    """Split an SQL script into complete statements (trigger bodies with inner ``;`` stay whole)."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError(f"incomplete SQL statement at end of migration: {pending.strip()[:80]!r}")
    return [s for s in statements if not _only_comments(s)]


def _only_comments(sql: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer evalkit whose schema this version does not know."""


def migrate(
    conn: sqlite3.Connection,
    migrations: list[Migration] | None = None,
    target: int | None = None,
) -> int:
    """Apply, in order, every migration above the database's version (up to ``target``, default all).

    Returns the resulting version. All pending steps run in one ``BEGIN IMMEDIATE`` transaction
    that re-reads the version first, so two processes opening the same new file cannot both
    apply a step. Raises :class:`SchemaTooNewError` when the file is newer than ``migrations``.
    """
    migrations = load_migrations() if migrations is None else migrations
    check_migration_sequence(migrations)
    newest = latest_version(migrations)
    target = newest if target is None else target

    # Cheap check without the write lock: the common case is an up-to-date database.
    current = schema_version(conn)
    if current > newest:
        raise SchemaTooNewError(
            f"database schema version {current} is newer than this evalkit supports ({newest}); "
            f"upgrade evalkit"
        )
    if current >= target:
        return current

    def apply(c: sqlite3.Connection) -> int:
        version = schema_version(c)  # re-read under the write lock
        for migration in migrations:
            if version < migration.version <= target:
                for statement in split_statements(migration.sql):
                    c.execute(statement)
                # PRAGMA does not accept bound parameters; the value is a validated int.
                c.execute(f"PRAGMA user_version = {int(migration.version)}")
                version = migration.version
        return version

    return write_transaction(conn, apply)
