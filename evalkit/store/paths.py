"""Where the results database lives by default."""

from __future__ import annotations

from pathlib import Path


def evalkit_home() -> Path:
    """The evalkit home of the installed environment (``EVALKIT_HOME``, default ``~/.evalkit``)."""
    from evalkit.config import current_environment

    return current_environment().home


def default_store_path(home: Path | None = None) -> Path:
    """Return the path of the shared results database, ``<home>/evalkit.db`` (default: :func:`evalkit_home`).

    Nothing is created here; :class:`~evalkit.store.Store` creates the folder when it opens.
    """
    from evalkit.config import STORE_FILE

    return (home or evalkit_home()) / STORE_FILE
