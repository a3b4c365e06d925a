"""The shared backend: a PostgreSQL database, through SQLAlchemy Core 2 and psycopg 3.

Concurrency follows SQLite's model, so the store's queries mean the same on both backends: every
write transaction starts by bumping the one-row counter ``evalkit_meta.data_version``, which takes
that row's lock and so serialises writers (like SQLite's ``BEGIN IMMEDIATE``); each statement after it
runs in READ COMMITTED and sees every earlier commit, so a check-then-insert (the vote rate limit, a
setting's first value) cannot race. The counter is also what readers watch for other writers' commits
(SQLite's ``PRAGMA data_version``). Reads run in REPEATABLE READ, READ ONLY transactions: one snapshot.

The schema lives in the same numbered migrations as SQLite's (``migrations/postgresql/`` holds the
variants PostgreSQL's syntax needs); the version is ``evalkit_meta.schema_version``. Opening takes a
transaction-scoped advisory lock first, so two processes opening a new database migrate it once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from evalkit.errors import UserError
from evalkit.store import db
from evalkit.store.backend import Connection, IntegrityError, redact

if TYPE_CHECKING:
    import sqlalchemy

T = TypeVar("T")

INSTALL_HINT = "pip install 'evalkit[postgres]'"
#: The advisory lock key migrations hold (any fixed 64-bit number; this one is "evalkit" in ASCII).
_MIGRATION_LOCK = 0x6576616C6B6974
#: SQLSTATEs after which a whole transaction is worth re-running: serialization failure, deadlock.
_RETRY_STATES = frozenset({"40001", "40P01"})

_META = """
CREATE TABLE IF NOT EXISTS evalkit_meta (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    data_version   BIGINT NOT NULL
)"""


def load_migrations() -> list[db.Migration]:
    """The store's migrations with PostgreSQL's variant (``migrations/postgresql/NNNN_*.sql``) where one exists."""
    variants = resources.files("evalkit.store").joinpath("migrations", "postgresql")
    by_name = {entry.name: entry.read_text(encoding="utf-8") for entry in variants.iterdir()
               if entry.name.endswith(".sql")}
    return [db.Migration(m.version, m.name, by_name.get(m.name, m.sql)) for m in db.load_migrations()]


def encode_doc_id(value: int | str) -> str:
    """``value`` as text whose bytewise order is SQLite's order of the untyped column: integers
    numerically, then strings (``'i'`` + sign digit + 19 digits; ``'s'`` + the string)."""
    if isinstance(value, str):
        return "s" + value
    if value >= 0:
        return f"i1{value:019d}"
    return f"i0{value + 10**19:019d}"


class _Row(tuple[Any, ...]):
    """A row readable like ``sqlite3.Row``: ``row[0]``, ``row["column"]``, ``dict(row)``."""

    _index: dict[str, int]

    def __new__(cls, values: Iterable[Any], index: dict[str, int]) -> _Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


class _Result:
    def __init__(self, result: sqlalchemy.CursorResult[Any]) -> None:
        self.rowcount = int(result.rowcount)
        self._rows: list[_Row] = []
        #: The columns, as DB-API's ``cursor.description`` names them (the other six fields unknown).
        self.description: list[tuple[str, None, None, None, None, None, None]] = []
        if result.returns_rows:
            index = {str(key): i for i, key in enumerate(result.keys())}
            self.description = [(key, None, None, None, None, None, None) for key in index]
            self._rows = [_Row(tuple(row), index) for row in result.fetchall()]

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[_Row]:
        return list(self._rows)

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)


class _Conn:
    """An SQLAlchemy connection behind :class:`~evalkit.store.backend.Connection` (``text()`` statements)."""

    def __init__(self, conn: sqlalchemy.Connection) -> None:
        from sqlalchemy import text

        self._conn = conn
        self._text = text

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None, /) -> _Result:
        return _Result(self._conn.execute(self._text(sql), dict(parameters or {})))

    def executemany(self, sql: str, parameters: Iterable[Mapping[str, Any]], /) -> _Result:
        rows = [dict(p) for p in parameters]
        if not rows:
            return _Result(self._conn.execute(self._text("SELECT 1 WHERE FALSE")))
        return _Result(self._conn.execute(self._text(sql), rows))


class PostgresBackend:
    """A store in the PostgreSQL database at ``url`` (``postgresql://user:password@host:port/dbname``;
    a unix socket folder as ``?host=/path``). The database must exist; its tables are created."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.location = redact(url)
        self.path: Path | None = None
        try:
            import psycopg  # noqa: F401  (the driver SQLAlchemy loads; checked here to name the fix)
            import sqlalchemy
            from sqlalchemy.pool import NullPool
        except ImportError:
            raise UserError(f"store {self.location}: a PostgreSQL store needs SQLAlchemy and psycopg: "
                            f"{INSTALL_HINT}") from None
        self._exc = sqlalchemy.exc
        try:
            parsed = sqlalchemy.make_url(url).set(drivername="postgresql+psycopg")
        except sqlalchemy.exc.ArgumentError as error:
            raise UserError(f"store {self.location}: not a valid PostgreSQL URL ({error})") from None
        # One connection per Store, held open (the Store serialises its use); no pool behind it.
        self._engine = sqlalchemy.create_engine(parsed, poolclass=NullPool)
        try:
            self._conn = self._engine.connect()
        except sqlalchemy.exc.DBAPIError as error:
            self._engine.dispose()
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise UserError(f"store {self.location}: cannot connect to PostgreSQL ({reason})") from None
        self._wrapped = _Conn(self._conn)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- transactions -------------------------------------------------------------------

    def _retry(self, attempt: Callable[[], T]) -> T:
        give_up_at = time.monotonic() + db.RETRY_DEADLINE_S
        delay = 0.005
        while True:
            try:
                return attempt()
            except self._exc.DBAPIError as error:
                state = getattr(error.orig, "sqlstate", None)
                if state not in _RETRY_STATES or time.monotonic() >= give_up_at:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)

    def write(self, work: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self._conn.begin():
                # First statement: the row lock on the counter serialises writers (see the module's doc).
                self._wrapped.execute("UPDATE evalkit_meta SET data_version = data_version + 1")
                return work(self._wrapped)

        try:
            return self._retry(attempt)
        except self._exc.IntegrityError as error:
            raise IntegrityError(str(error.orig).strip().splitlines()[0]) from error

    def read(self, work: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self._conn.begin():
                self._wrapped.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return work(self._wrapped)

        return self._retry(attempt)

    def schema_version(self) -> int:
        return self.read(lambda c: int(c.execute("SELECT schema_version FROM evalkit_meta").fetchone()[0]))

    def has_table(self, name: str) -> bool:
        return self.read(lambda c: c.execute("SELECT to_regclass(:n) IS NOT NULL", {"n": name}).fetchone()[0])

    def data_version(self) -> int:
        return self.read(lambda c: int(c.execute("SELECT data_version FROM evalkit_meta").fetchone()[0]))

    def doc_id(self, value: int | str) -> Any:
        return encode_doc_id(value)

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()

    # -- schema ------------------------------------------------------------------------

    def _migrate(self) -> None:
        migrations = load_migrations()
        newest = db.latest_version(migrations)
        with self._conn.begin():
            c = self._wrapped
            # Held to the end of this transaction: a second process opening the same new database
            # waits here, then finds the schema made.
            c.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _MIGRATION_LOCK})
            c.execute(_META)
            c.execute("INSERT INTO evalkit_meta (id, schema_version, data_version) VALUES (1, 0, 0) "
                      "ON CONFLICT (id) DO NOTHING")
            version = int(c.execute("SELECT schema_version FROM evalkit_meta").fetchone()[0])
            if version > newest:
                raise UserError(f"{self.location}: database schema version {version} is newer than this "
                                f"evalkit supports ({newest}); upgrade evalkit")
            pending = [m for m in migrations if m.version > version]
            for migration in pending:
                for statement in db.split_statements(migration.sql):
                    self._conn.exec_driver_sql(statement)
            if pending:
                c.execute("UPDATE evalkit_meta SET schema_version = :v, data_version = data_version + 1",
                          {"v": newest})
