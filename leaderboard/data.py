"""Cached access to the results store for the pages: every query goes through :func:`load`.

Query results are cached with ``st.cache_data`` under the store's *version*, so a page rerun costs a
dictionary lookup until someone writes to the store. The version is :meth:`Store.data_version` on one
store this process holds open: on SQLite ``PRAGMA data_version``, which changes whenever another
connection commits (the main file's mtime does not move on a WAL commit); on PostgreSQL a counter
every write transaction bumps. Writes the app itself makes (arena votes) go through a separate
:class:`~evalkit.store.Store` connection, so they change the version too. The queries run on the
held store, one snapshot each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from evalkit.errors import UserError
from evalkit.leaderboard import queries
from evalkit.leaderboard.settings import AppSettings
from evalkit.store import Store

T = TypeVar("T")


def settings() -> AppSettings:
    """This app's settings, from the environment the command set (cheap; read per script run so that
    tests can start apps on different stores in one process)."""
    return AppSettings.from_environ()


class _VersionWatch:
    """A held store whose :meth:`~evalkit.store.Store.data_version` says when another connection committed."""

    def __init__(self, spec: str | Path) -> None:
        self.store = Store(spec)
        self._lock = threading.Lock()
        self._bumps = 0
        self._last = -1

    def version(self) -> int:
        with self._lock:
            current = self.store.data_version()
            # SQLite's data_version is only "different when changed", not a counter: count the changes.
            if current != self._last:
                self._bumps += 1
                self._last = current
            return self._bumps


def _spec(store: str | Path) -> str | Path:
    # Cached functions key on text; a path must become a Path again (a URL stays text).
    from evalkit.store import is_url

    return store if isinstance(store, Path) or is_url(store) else Path(store)


@st.cache_resource(show_spinner=False)
def _open(path: str) -> _VersionWatch:
    """Open the store once (an older schema is brought up to date; a newer one is refused), then watch it."""
    return _VersionWatch(_spec(path))


def open_store() -> str | None:
    """Make sure the store opens (migrated); on a problem show it in one line and return ``None``.

    ``app.py`` calls it before any page runs, so the pages themselves need not."""
    path = str(settings().store)
    try:
        _open(path)
    except UserError as error:
        st.error(str(error))
        return None
    return path


def store_version(path: str) -> int:
    """The store's version: changes whenever anything is committed to it."""
    return _open(path).version()


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(path: str, version: int, query: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    del version  # part of the cache key only
    return queries.read(_open(path).store, getattr(queries, query), *args, **dict(kwargs))


def load(query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``query(conn, *args, **kwargs)`` of :mod:`evalkit.leaderboard.queries` on the store, cached until
    the store changes. Arguments must be hashable values (they are part of the cache key)."""
    path = str(settings().store)
    result: T = _cached(path, store_version(path), query.__name__, args, tuple(sorted(kwargs.items())))
    return result


def writable_store() -> Store:
    """A fresh store connection for the few writes the app makes (votes, battles); close it after use."""
    return Store(settings().store)
