"""The pages' cache follows the store: a commit by any other connection (WAL mode: the main file's
mtime does not move) changes the store version, and the next read sees the new rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from evalkit.leaderboard import settings
from evalkit.leaderboard.data import _VersionWatch
from evalkit.store import Store


def test_the_version_changes_only_when_another_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        watch = _VersionWatch(path)
        first = watch.version()
        assert watch.version() == first  # nothing committed: same version, the cache is reused
        mtime = path.stat().st_mtime_ns
        store.add_battle("q1", "a", "b")
        assert path.stat().st_mtime_ns == mtime  # why mtime cannot be the signal: the commit is in the WAL
        second = watch.version()
        assert second != first and watch.version() == second
        store.add_battle("q2", "a", "b")
        assert watch.version() not in (first, second)


def test_a_postgresql_store_version_changes_when_another_connection_commits(postgres_url: str) -> None:
    with Store(postgres_url) as store:
        watch = _VersionWatch(postgres_url)
        first = watch.version()
        assert watch.version() == first
        store.add_battle("q1", "a", "b")
        second = watch.version()
        assert second != first and watch.version() == second
        store.list_votes()  # a read commits nothing
        assert watch.version() == second
        watch.store.close()


def _script() -> None:
    import streamlit as st

    from evalkit.leaderboard import data, queries

    st.write("empty" if data.load(queries.is_empty) else "not empty")


def test_a_page_rerun_sees_a_write_made_by_another_process_meanwhile(store_spec: str | Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = store_spec
    Store(path).close()
    monkeypatch.setenv(settings.STORE, str(path))
    at = AppTest.from_function(_script, default_timeout=60)
    at.run()
    assert [m.value for m in at.markdown] == ["empty"]
    at.run()
    assert [m.value for m in at.markdown] == ["empty"]
    with Store(path) as store:
        battle = store.add_battle("q1", "a", "b")
        store.add_vote(battle, "h", "tie")
    at.run()
    assert [m.value for m in at.markdown] == ["not empty"]
