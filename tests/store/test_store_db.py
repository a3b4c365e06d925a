"""Connections and migrations of the results store, against real SQLite files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import Store, db, default_store_path
from evalkit.store.db import Migration

EXPECTED_TABLES = {"models", "runs", "results", "samples", "request_cache", "score_cache"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = db.load_migrations()
    assert migrations[0].name == "0001_initial.sql"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert db.latest_version() == len(migrations)


def test_new_database_has_latest_version_all_tables_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "evalkit.db"
    with Store(path) as store:
        assert store.schema_version() == db.latest_version()
    assert path.exists()
    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.latest_version()
        # journal_mode=WAL is persistent: a fresh, pragma-less connection still sees it.
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert EXPECTED_TABLES <= _tables(conn)
    finally:
        conn.close()


def test_connection_pragmas(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "p.db")
    try:
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_version_1_database_is_migrated_on_open_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = db.connect(path)
    assert db.migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO models (fingerprint, name, path, metadata, created_at) VALUES ('fp', 'm', NULL, '{}', 'x')"
    )
    conn.close()

    with Store(path) as store:
        assert store.schema_version() == db.latest_version()
        model = store.get_model("fp")
    assert model is not None and model["name"] == "m"

    # Reopening an up-to-date database changes nothing.
    with Store(path) as store:
        assert store.schema_version() == db.latest_version()
        assert store.get_model("fp") == model


def test_later_migrations_apply_in_order_to_an_old_database(tmp_path: Path) -> None:
    base = db.load_migrations()
    step_a = Migration(
        len(base) + 1, "a.sql", "CREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (1);"
    )
    step_b = Migration(
        len(base) + 2,
        "b.sql",
        "-- a comment-only line\nALTER TABLE extra ADD COLUMN y TEXT DEFAULT 'v';\n"
        "CREATE TRIGGER extra_t AFTER INSERT ON extra BEGIN UPDATE extra SET y = 'trig'; END;\n",
    )
    path = tmp_path / "v1.db"
    conn = db.connect(path)
    try:
        db.migrate(conn, base)
        assert db.migrate(conn, [*base, step_a]) == len(base) + 1
        assert db.migrate(conn, [*base, step_a, step_b]) == len(base) + 2
        # Applying again is a no-op: the version says everything is in.
        assert db.migrate(conn, [*base, step_a, step_b]) == len(base) + 2
        assert [tuple(r) for r in conn.execute("SELECT x, y FROM extra")] == [(1, "v")]
        conn.execute("INSERT INTO extra (x) VALUES (2)")
        assert {r[1] for r in conn.execute("SELECT x, y FROM extra")} == {"trig"}
    finally:
        conn.close()


def test_failing_migration_leaves_database_untouched(tmp_path: Path) -> None:
    base = db.load_migrations()
    broken = Migration(len(base) + 1, "broken.sql", "CREATE TABLE fine (x);\nTHIS IS NOT SQL;")
    path = tmp_path / "b.db"
    conn = db.connect(path)
    try:
        db.migrate(conn, base)
        with pytest.raises(sqlite3.OperationalError):
            db.migrate(conn, [*base, broken])
        assert db.schema_version(conn) == len(base)
        assert "fine" not in _tables(conn)
    finally:
        conn.close()


def test_gap_in_migration_numbers_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="without gaps"):
        db.check_migration_sequence([Migration(1, "0001_a.sql", ""), Migration(3, "0003_c.sql", "")])


def test_database_newer_than_code_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(path).close()
    conn = _raw(path)
    conn.execute(f"PRAGMA user_version = {db.latest_version() + 5}")
    conn.close()
    with pytest.raises(UserError, match="newer than this evalkit supports"):
        Store(path)


def test_file_that_is_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is definitely not an sqlite file, just some text " * 100)
    with pytest.raises(UserError) as raised:
        Store(path)
    assert str(path) in str(raised.value)


def test_split_statements_keeps_trigger_bodies_whole() -> None:
    sql = (
        "-- header\nCREATE TABLE t (a);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n  UPDATE t SET a = 2;\nEND;\n"
        "-- trailing comment\n"
    )
    statements = db.split_statements(sql)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_is_lock_error_recognises_only_lock_errors() -> None:
    assert db.is_lock_error(sqlite3.OperationalError("database is locked"))
    assert db.is_lock_error(sqlite3.OperationalError("database table is locked"))
    assert not db.is_lock_error(sqlite3.OperationalError("no such table: x"))
    assert not db.is_lock_error(ValueError("locked"))


def test_with_retry_retries_lock_errors_then_succeeds() -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert db.with_retry(flaky) == "done"
    assert len(attempts) == 3


def test_with_retry_gives_up_after_deadline_and_passes_other_errors() -> None:
    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db.with_retry(always_locked, deadline_s=0.05)

    def other() -> None:
        raise sqlite3.OperationalError("no such table: nope")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.with_retry(other)


def test_write_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with Store(path) as store:
        other = db.connect(path)
        other.execute("BEGIN IMMEDIATE")  # hold the write lock
        release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        release.start()
        try:
            store.cache_put_many("fp", [("h", {"q": 1}, {"a": 1})])  # must wait, not fail
        finally:
            release.join()
            other.close()
        assert store.cache_count("fp") == 1


def test_default_store_path_follows_evalkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "evalkit.db"
    monkeypatch.delenv("EVALKIT_HOME")
    assert default_store_path() == Path.home() / ".evalkit" / "evalkit.db"
    monkeypatch.setenv("EVALKIT_HOME", "~/elsewhere")
    assert default_store_path() == Path.home() / "elsewhere" / "evalkit.db"
