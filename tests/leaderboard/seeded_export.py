"""Writes the seeded store (real tiny-model runs, see ``conftest.py``) to ``$EVALKIT_DEMO_STORE``.

Not part of the test suite (the file name does not match ``test_*.py``): ``bench/leaderboard_screenshots.py
--demo`` runs it by path, so that the README's pictures show the same store the tests check.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from evalkit.store import Store
from tests.leaderboard.conftest import SeededStore

DEMO_STORE = "EVALKIT_DEMO_STORE"


def test_export_seeded_store(seeded_store: SeededStore) -> None:
    target = Path(os.environ[DEMO_STORE])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    # SQLite's online backup: a consistent copy, WAL included (VACUUM INTO refuses to run in a transaction).
    source, copy = sqlite3.connect(seeded_store.path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    Store(target).close()  # it opens as a store
