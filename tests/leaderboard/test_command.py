"""``evalkit leaderboard`` at its edge: bad flags and bad stores are one line and exit 2, before any
server starts; an old store is migrated, by the command and by the app alike."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from evalkit.store import db
from tests.conftest import REPO, run_cli

OLD_STORE = REPO / "tests" / "store" / "fixtures" / "store_v1.db"


def _one_line_exit_2(*args: str) -> str:
    done = run_cli("leaderboard", *args, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_bad_flags_are_one_line(tmp_path: Path) -> None:
    assert "expected a port number 1-65535, got '0'" in _one_line_exit_2("--port", "0")
    line = _one_line_exit_2("--store", str(tmp_path / "s.db"), "--annotator-tokens", str(tmp_path / "none.tsv"))
    assert line.endswith("none.tsv: no such file")


def test_a_newer_or_foreign_store_is_refused_in_one_line(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {db.latest_version() + 1}")
    conn.close()
    assert "newer than this evalkit supports" in _one_line_exit_2("--store", str(newer))
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a database\n" * 100)
    assert "expected an evalkit results database" in _one_line_exit_2("--store", str(foreign))


def test_the_app_migrates_an_old_store(tmp_path: Path, app_test: Callable) -> None:
    old = tmp_path / "old.db"
    shutil.copy(OLD_STORE, old)
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    at = app_test(old)
    at.run()
    assert not at.exception
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.latest_version()


def test_the_app_refuses_a_newer_store_in_one_line(tmp_path: Path, app_test: Callable) -> None:
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {db.latest_version() + 1}")
    conn.close()
    at = app_test(newer)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"{newer}: database schema version {db.latest_version() + 1} is newer "
                                           f"than this evalkit supports ({db.latest_version()}); upgrade evalkit"]
