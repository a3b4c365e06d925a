"""The battles and votes tables: one vote per battle, choices checked, votes read in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evalkit.store import Store, db


def test_tables_exist_after_migrating(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert store.schema_version() == db.latest_version()
    conn = sqlite3.connect(tmp_path / "s.db")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"battles", "votes"} <= names


def test_votes_round_trip_in_order_and_one_per_battle(store_spec: str | Path) -> None:
    with Store(store_spec) as store:
        first = store.add_battle("q1", "A", "B", shown_left="model_b", annotator="h1")
        second = store.add_battle("q2", "B", "C")
        store.add_vote(first, "h1", "tie (bothbad)")
        store.add_vote(second, "h2", "model_a")
        assert store.list_votes() == [("A", "B", "tie (bothbad)"), ("B", "C", "model_a")]
        with pytest.raises(ValueError, match="already has a vote"):
            store.add_vote(first, "h3", "model_a")
        with pytest.raises(ValueError, match="choice must be one of"):
            store.add_vote(second, "h2", "left")
        with pytest.raises(ValueError, match="no battle 99"):
            store.add_vote(99, "h2", "tie")
        with pytest.raises(ValueError, match="two different models"):
            store.add_battle("q3", "A", "A")
        assert len(store.list_votes()) == 2


def test_the_schema_itself_refuses_bad_rows(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("INSERT INTO battles (id, created_at, question_id, model_a, model_b) VALUES (1, 't', 'q', 'A', 'B')")
    for sql in ("INSERT INTO votes (battle_id, annotator, choice, created_at) VALUES (1, 'h', 'draw', 't')",
                "INSERT INTO votes (battle_id, annotator, choice, created_at) VALUES (2, 'h', 'tie', 't')",
                "INSERT INTO battles (created_at, question_id, model_a, model_b, shown_left) "
                "VALUES ('t', 'q', 'A', 'B', 'x')"):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)
    conn.close()


def test_a_vote_limit_holds_under_concurrent_sessions_of_one_annotator(store_spec: str | Path) -> None:
    import threading

    from evalkit.store.store import VoteLimitReached

    path = store_spec
    with Store(path) as store:
        battles = [store.add_battle(f"q{i}", "A", "B", annotator="h") for i in range(12)]
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def session(mine: list[int]) -> None:
        with Store(path) as own:  # each session has its own connection, as each page session does
            start.wait()
            for battle in mine:
                try:
                    own.add_vote(battle, "h", "tie", at_most=(5, "2000-01-01T00:00:00"))
                    outcomes.append("stored")
                except VoteLimitReached:
                    outcomes.append("limited")

    threads = [threading.Thread(target=session, args=(battles[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limited"] * 7 + ["stored"] * 5
    with Store(path) as store:
        assert len(store.list_votes()) == 5


VOTER = """
import sys, time
from pathlib import Path
from evalkit.store import Store
from evalkit.store.store import VoteLimitReached

spec, go, battles = sys.argv[1], Path(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")]
with Store(spec) as store:
    while not go.exists():
        time.sleep(0.001)
    for battle in battles:
        try:
            store.add_vote(battle, "h", "tie", at_most=(5, "2000-01-01T00:00:00"))
            print("stored")
        except VoteLimitReached:
            print("limited")
"""


def test_three_voting_processes_never_exceed_the_limit(tmp_path: Path, store_spec: str | Path) -> None:
    import os
    import subprocess
    import sys

    with Store(store_spec) as store:
        battles = [store.add_battle(f"q{i}", "A", "B", annotator="h") for i in range(15)]
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    voters = [subprocess.Popen([sys.executable, "-c", VOTER, str(store_spec), str(go),
                                ",".join(map(str, battles[i::3]))], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for i in range(3)]
    go.touch()
    outcomes: list[str] = []
    for voter in voters:
        out, err = voter.communicate(timeout=120)
        assert voter.returncode == 0, err
        outcomes += out.split()
    assert sorted(outcomes) == ["limited"] * 10 + ["stored"] * 5
    with Store(store_spec) as store:
        assert len(store.list_votes()) == 5
