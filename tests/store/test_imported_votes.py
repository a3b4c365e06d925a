"""People's votes imported from a file (``Store.import_votes``, migration 0007): stored as battles with their
vote, annotators hashed with the arena's salt, idempotent per source; an older store migrates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.judge.agreement import HumanVote
from evalkit.ratings.votes import annotator_id
from evalkit.store import Store, db
from evalkit.store.store import ANNOTATOR_SALT_SETTING
from tests.pg_server import rows as _rows

VOTES = [HumanVote("q1", "A", "B", "model_a", "ada"), HumanVote("q1", "A", "B", "model_a", "bob"),
         HumanVote("q2", "B", "A", "tie", None), HumanVote("q2", "B", "A", "tie (bothbad)", None)]


def test_votes_are_stored_as_battles_and_votes(store_spec: str | Path) -> None:
    path = store_spec
    with Store(path) as store:
        assert store.import_votes(VOTES, "votes.csv") == 4
        assert store.list_votes() == [("A", "B", "model_a"), ("A", "B", "model_a"), ("B", "A", "tie"),
                                      ("B", "A", "tie (bothbad)")]
    (salt,) = _rows(path, f"SELECT value FROM store_settings WHERE key = '{ANNOTATOR_SALT_SETTING}'")[0]
    stored = _rows(path, "SELECT b.question_id, b.annotator, v.annotator, b.source_key FROM battles b "
                         "JOIN votes v ON v.battle_id = b.id ORDER BY b.id")
    assert [r[0] for r in stored] == ["q1", "q1", "q2", "q2"]
    assert all(battle == vote for _, battle, vote, _ in stored)
    assert [r[1] for r in stored[:2]] == [annotator_id("ada", str(salt)), annotator_id("bob", str(salt))]
    # Unknown annotators are two different people, and neither is a name anyone could type.
    assert len({r[1] for r in stored}) == 4
    assert all(len(str(r[3])) == 64 for r in stored) and len({r[3] for r in stored}) == 4


def test_importing_again_adds_nothing(store_spec: str | Path) -> None:
    path = store_spec
    with Store(path) as store:
        assert store.import_votes(VOTES, "votes.csv") == 4
        assert store.import_votes(VOTES, "votes.csv") == 0
    with Store(path) as store:  # another process, later
        assert store.import_votes(VOTES, "votes.csv") == 0
        assert store.import_votes(VOTES[:1], "votes.csv") == 0
        # The same votes from another source are other votes.
        assert store.import_votes(VOTES[:1], "other.csv") == 1
        assert len(store.list_votes()) == 5


def test_identical_votes_in_one_import_all_count(store_spec: str | Path) -> None:
    same_unknown = [HumanVote("q1", "A", "B", "model_b")] * 3
    same_person = [HumanVote("q1", "A", "B", "model_b", "ada")] * 2
    with Store(store_spec) as store:
        assert store.import_votes(same_unknown + same_person, "f") == 5
        assert store.import_votes(same_unknown + same_person, "f") == 0
        # One more identical vote in the file: only that one is new.
        assert store.import_votes(same_unknown * 2, "f") == 3
        assert store.list_votes().count(("A", "B", "model_b")) == 8
    unknown = _rows(store_spec, "SELECT annotator FROM votes WHERE annotator NOT IN "
                                       "(SELECT annotator FROM votes GROUP BY annotator HAVING COUNT(*) > 1)")
    assert len(unknown) == 6  # every unknown vote, across both imports, has an id of its own; ada has two votes


def test_a_failed_import_writes_nothing(store_spec: str | Path) -> None:
    path = store_spec
    with Store(path) as store:
        with pytest.raises(ValueError, match="winner must be one of"):
            store.import_votes([VOTES[0], HumanVote("q1", "A", "B", "left")], "f")
        with pytest.raises(ValueError, match="two different models"):
            store.import_votes([VOTES[0], HumanVote("q1", "A", "A", "tie")], "f")
        # A row the schema refuses half-way through (no question): the whole import is rolled back.
        with pytest.raises(Store.IntegrityError):
            store.import_votes([VOTES[0], HumanVote(None, "A", "B", "tie")], "f")  # type: ignore[arg-type]
        assert store.list_votes() == []
    assert _rows(path, "SELECT COUNT(*) FROM battles") == [(0,)]


def test_the_arena_and_an_import_hash_one_person_alike(store_spec: str | Path) -> None:
    from evalkit.leaderboard.arena import SALT_SETTING, annotator_hash, store_salt

    assert SALT_SETTING == ANNOTATOR_SALT_SETTING
    path = store_spec
    with Store(path) as store:
        salt = store_salt(store)  # the arena made the salt first
        store.import_votes(VOTES[:1], "f")
    assert _rows(path, "SELECT annotator FROM votes") == [(annotator_hash("ada", salt),)]


def test_elo_rates_imported_votes(store_spec: str | Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = store_spec
    with Store(path) as store:
        store.import_votes([HumanVote(f"q{i}", "A", "B", w) for i, w in
                            enumerate(("model_a", "model_a", "tie", "tie (bothbad)"))], "f")
    assert main(["elo", "--store", str(path), "--json", "--bootstrap", "0"]) == 0
    # The value FastChat's compute_mle_elo gives these four votes (tests/ratings/test_elo_command.py).
    assert json.loads(capsys.readouterr().out)["bt"]["A"]["rating"] == pytest.approx(1095.4243, abs=5e-5)


def test_a_store_of_the_previous_version_migrates(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = db.connect(path)
    assert db.migrate(conn, target=6) == 6
    conn.execute("INSERT INTO battles (id, created_at, question_id, model_a, model_b, annotator) "
                 "VALUES (1, 't0', 'q0', 'A', 'B', 'h')")
    conn.execute("INSERT INTO votes (battle_id, annotator, choice, created_at) VALUES (1, 'h', 'model_b', 't0')")
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == db.latest_version() == 7
        assert store.list_votes() == [("A", "B", "model_b")]
        assert store.import_votes(VOTES, "f") == 4
        # Arena battles keep a NULL key, and NULLs do not collide under the unique index.
        store.add_vote(store.add_battle("q9", "A", "B", annotator="h"), "h", "tie")
        assert len(store.list_votes()) == 6
    assert _rows(path, "SELECT source_key FROM battles WHERE id = 1") == [(None,)]
    assert _rows(path, "SELECT COUNT(*) FROM battles WHERE source_key IS NULL") == [(2,)]
    indexes = _rows(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'battles'")
    assert ("battles_by_source_key",) in indexes
