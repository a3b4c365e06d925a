"""Where the results database lives by default."""

from __future__ import annotations

import os
from pathlib import Path


def evalkit_home() -> Path:
    """Return ``$EVALKIT_HOME`` (``~`` expanded) or ``~/.evalkit`` when it is unset or empty."""
    home = os.environ.get("EVALKIT_HOME", "").strip()
    return Path(home).expanduser() if home else Path.home() / ".evalkit"


def default_store_path() -> Path:
    """Return the path of the shared results database, ``<evalkit home>/evalkit.db``.

    Nothing is created here; :class:`~evalkit.store.Store` creates the folder when it opens.
    """
    return evalkit_home() / "evalkit.db"
