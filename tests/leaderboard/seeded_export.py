"""Writes the seeded store (real tiny-model runs, see ``conftest.py``) to ``$EVALKIT_DEMO_STORE``.

Not part of the test suite (the file name does not match ``test_*.py``): ``bench/leaderboard_screenshots.py
--demo`` runs it by path, so that the README's pictures show the same store the tests check.
"""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.store import Store
from tests.leaderboard.conftest import SeededStore, copy_store

DEMO_STORE = "EVALKIT_DEMO_STORE"


def test_export_seeded_store(seeded_store: SeededStore) -> None:
    target = Path(os.environ[DEMO_STORE])
    copy_store(seeded_store.path, target)
    Store(target).close()  # it opens as a store
