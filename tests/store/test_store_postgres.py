"""What is PostgreSQL's own in the store: its schema mirrors SQLite's, its version lives in evalkit_meta,
and a database written by a newer evalkit is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import Store, db
from tests.pg_server import rows


def test_both_backends_have_the_same_tables_and_columns(tmp_path: Path, postgres_url: str) -> None:
    Store(tmp_path / "s.db").close()
    Store(postgres_url).close()
    tables = [r[0] for r in rows(tmp_path / "s.db", "SELECT name FROM sqlite_master WHERE type = 'table' "
                                                   "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    pg_tables = [r[0] for r in rows(postgres_url, "SELECT table_name FROM information_schema.tables "
                                                  "WHERE table_schema = 'public' ORDER BY table_name")]
    assert pg_tables == sorted([*tables, "evalkit_meta"])
    for table in tables:
        sqlite_columns = [r[1] for r in rows(tmp_path / "s.db", f"PRAGMA table_info({table})")]
        pg_columns = [r[0] for r in rows(postgres_url, "SELECT column_name FROM information_schema.columns WHERE "
                                                       f"table_name = '{table}' ORDER BY ordinal_position")]
        # runs.rowid: SQLite's implicit insertion order, an explicit column on PostgreSQL.
        assert [c for c in pg_columns if not (table == "runs" and c == "rowid")] == sqlite_columns, table


def test_the_schema_version_and_the_change_counter(postgres_url: str) -> None:
    with Store(postgres_url) as store:
        assert store.schema_version() == db.latest_version()
        before = store.data_version()
        store.upsert_model("fp", "m", None)
        assert store.data_version() == before + 1  # one write, one bump
        store.get_model("fp")
        assert store.data_version() == before + 1
    with Store(postgres_url) as store:  # reopening an up-to-date database changes nothing
        assert store.data_version() == before + 1


def test_a_database_of_a_newer_evalkit_is_refused(postgres_url: str) -> None:
    Store(postgres_url).close()
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE evalkit_meta SET schema_version = 99")
    with pytest.raises(UserError, match=r"schema version 99 is newer than this evalkit supports") as raised:
        Store(postgres_url)
    assert "\n" not in str(raised.value)
