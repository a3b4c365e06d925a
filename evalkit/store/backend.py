"""What :class:`~evalkit.store.Store` needs from a database: the interface both backends implement, and
:func:`open_backend`, which picks one from a store spec (a file path or a ``postgresql://`` URL).

The store's queries are written once, in SQL both SQLite (>= 3.35) and PostgreSQL accept, with named
``:name`` parameters; a backend hands each transaction a :class:`Connection` that runs them. What does
differ (locking, schema versions, the change counter, how sample ids sort) lives in the backend modules:
:mod:`evalkit.store.sqlite_backend` and :mod:`evalkit.store.postgres`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from evalkit.errors import UserError

T = TypeVar("T")

#: ``scheme://``: a store spec that is a URL, not a file path.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
#: The URL schemes served by the PostgreSQL backend (``+psycopg`` is SQLAlchemy's name for the driver).
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class IntegrityError(Exception):
    """A write broke a constraint of the schema (a missing run, a duplicate key); nothing of it was kept.

    Both backends raise this one type, so callers need not know which database they write to.
    """


class Row(Protocol):
    """A result row: by position (``row[0]``), by column name (``row["name"]``) and as ``dict(row)``."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Sequence[str]: ...


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any:
        """DB-API's column descriptions: each a sequence whose first item is the column's name."""
        ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a transaction's work function gets: statements with named parameters."""

    def execute(self, sql: str, parameters: Mapping[str, Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Mapping[str, Any]], /) -> Cursor: ...


class Backend(Protocol):
    """One open database. Work functions are complete transactions: they may be re-run on lock errors."""

    #: Where the store is, for messages (a file path, or a URL without its password).
    location: str
    #: The database file of a SQLite store; ``None`` for a server.
    path: Path | None
    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: str

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction (serialised with other writers) and commit it."""
        ...

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` against one consistent snapshot."""
        ...

    def schema_version(self) -> int: ...

    def has_table(self, name: str) -> bool: ...

    def data_version(self) -> int:
        """A number that changes whenever another connection commits a write."""
        ...

    def doc_id(self, value: int | str) -> Any:
        """``value`` as the backend stores a sample's doc_id (ints sort numerically, before strings)."""
        ...

    def close(self) -> None: ...


def is_url(spec: str | Path) -> bool:
    """True when ``spec`` is written as a URL (``scheme://...``) rather than a file path."""
    return isinstance(spec, str) and _URL.match(spec) is not None


def check_store_spec(spec: str) -> str | Path:
    """``spec`` as a store target: a URL evalkit serves (kept as text) or a file path.

    Raises ``UserError`` (one line) for a URL of a database evalkit does not serve.
    """
    match = _URL.match(spec)
    if match is None:
        return Path(spec).expanduser()
    scheme = match.group("scheme").lower()
    if scheme not in POSTGRES_SCHEMES:
        raise UserError(
            f"store {redact(spec)!r}: evalkit stores results in SQLite (a file path) or PostgreSQL "
            f"(postgresql://...), not {scheme}://"
        )
    return spec


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and ``repr``)."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def open_backend(spec: str | Path) -> Backend:
    """Open (and migrate) the store at ``spec``: a file path (SQLite) or a ``postgresql://`` URL.

    Raises ``UserError`` for a URL evalkit does not serve, a SQLite file on a network filesystem,
    a file that is not a store, or a schema newer than this evalkit.
    """
    target = check_store_spec(spec) if isinstance(spec, str) else spec.expanduser()
    if isinstance(target, str):
        from evalkit.store.postgres import PostgresBackend

        return PostgresBackend(target)
    from evalkit.store.sqlite_backend import SqliteBackend

    return SqliteBackend(target)
