"""The arena's rules on a real store file: tokens, battles, left/right mapping, votes, rate limit, concurrency."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.errors import UserError
from evalkit.leaderboard import arena
from evalkit.leaderboard.arena import Battle, Position, VoteResult
from evalkit.ratings.votes import annotator_id
from evalkit.store import Store

SALT = "0123456789abcdef" * 2
CANDIDATES = {"q1": ("base", "sft"), "q2": ("base", "sft", "dpo"), "q3": ("dpo",)}


def _line(name: str, salt: str, token: str) -> str:
    return f"{name}\t{salt}\t{hashlib.sha256((salt + token).encode()).hexdigest()}"


def _rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT v.*, b.shown_left, b.model_a, b.model_b FROM votes v "
                            "JOIN battles b ON b.id = v.battle_id ORDER BY v.id").fetchall()
    finally:
        conn.close()


# -- tokens file --------------------------------------------------------------------------------------

def test_tokens_file_parses_with_comments_and_blank_lines() -> None:
    text = f"# annotators\n\n{_line('ann', SALT, 'secret')}\n   # indented comment\n{_line('bob', 'f' * 32, 't2')}\n"
    entries = arena.parse_tokens(text, "tokens.tsv")
    assert sorted(entries) == ["ann", "bob"]
    assert entries["ann"].line == 3 and entries["bob"].line == 5
    assert arena.check_token(entries, "ann", "secret")
    assert arena.check_token(entries, " ann ", "secret")  # the typed name's surrounding blanks do not count
    assert not arena.check_token(entries, "ann", "t2")
    assert not arena.check_token(entries, "bob", "secret")
    assert not arena.check_token(entries, "nobody", "secret")
    assert not arena.check_token(entries, "ann", "")


@pytest.mark.parametrize(("line", "message"), [
    ("ann secret", "3 tab-separated fields"),
    (f"ann\t{SALT}", "3 tab-separated fields"),
    (f"\t{SALT}\t{'a' * 64}", "the name is empty"),
    (f"ann\tnot-hex\t{'a' * 64}", "the salt must be 32 lowercase hex"),
    (f"ann\t{SALT}\t{'A' * 64}", "the hash must be 64 lowercase hex"),
    (f"ann\t{SALT}\t{'a' * 63}", "the hash must be 64 lowercase hex"),
    (_line("first", SALT, "x"), "'first' is already on line 2"),
])
def test_a_bad_tokens_line_is_one_located_error(line: str, message: str) -> None:
    text = "# header\n" + _line("first", SALT, "t") + "\n" + line + "\n"
    with pytest.raises(UserError) as error:
        arena.parse_tokens(text, "tokens.tsv")
    assert str(error.value).startswith("tokens.tsv:3: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_add_annotator_appends_a_hashed_line_and_never_the_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.tsv"
    token = arena.add_annotator(path, "ann")
    second = arena.add_annotator(path, "bob")
    text = path.read_text()
    assert token not in text and second not in text
    entries = arena.read_tokens(path)
    assert arena.check_token(entries, "ann", token) and arena.check_token(entries, "bob", second)
    assert not arena.check_token(entries, "ann", second)
    with pytest.raises(UserError, match="'ann' already has a token"):
        arena.add_annotator(path, "ann")
    with pytest.raises(UserError, match="not a usable name"):
        arena.add_annotator(path, "a\tb")


def test_add_annotator_command_prints_the_token_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.tsv"
    assert main(["leaderboard", "--annotator-tokens", str(path), "--add-annotator", "ann"]) == 0
    token = capsys.readouterr().out.strip()
    assert arena.check_token(arena.read_tokens(path), "ann", token)
    assert main(["leaderboard", "--add-annotator", "bob"]) == 2
    assert "--add-annotator needs --annotator-tokens" in capsys.readouterr().err


def test_leaderboard_command_refuses_a_bad_tokens_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.tsv"
    path.write_text("# ok\nann\tbad\n")
    assert main(["leaderboard", "--store", str(tmp_path / "s.db"), "--annotator-tokens", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"{path}:2: expected NAME<TAB>SALT<TAB>SHA256 (3 tab-separated " \
                                              "fields), got 2"


# -- battles ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("shown_left", "position", "choice", "left", "right"), [
    ("model_a", Position.LEFT, "model_a", "base", "sft"),
    ("model_a", Position.RIGHT, "model_b", "base", "sft"),
    ("model_b", Position.LEFT, "model_b", "sft", "base"),
    ("model_b", Position.RIGHT, "model_a", "sft", "base"),
    ("model_b", Position.TIE, "tie", "sft", "base"),
    ("model_a", Position.BOTH_BAD, "tie (bothbad)", "base", "sft"),
])
def test_screen_positions_map_to_the_stored_models(shown_left: str, position: Position, choice: str, left: str,
                                                   right: str) -> None:
    battle = Battle(1, "q1", "base", "sft", shown_left, "ann")
    assert (battle.left, battle.right) == (left, right)
    assert battle.choice(position) == choice


def test_draw_uses_only_questions_two_models_answered_and_randomizes_order() -> None:
    rng = random.Random(0)
    drawn = [arena.draw(CANDIDATES, rng) for _ in range(400)]
    assert {d[0] for d in drawn} == {"q1", "q2"}
    assert all(a != b and {a, b} <= set(CANDIDATES[q]) for q, a, b, _ in drawn)
    assert {d[3] for d in drawn} == {"model_a", "model_b"}
    assert {(a, b) for q, a, b, _ in drawn if q == "q1"} == {("base", "sft"), ("sft", "base")}
    with pytest.raises(ValueError, match="no question"):
        arena.draw({"q3": ("dpo",)}, rng)


def test_start_battle_stores_what_is_shown(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        battle = arena.start_battle(store, CANDIDATES, "ann-hash", random.Random(1))
    conn = sqlite3.connect(tmp_path / "s.db")
    row = conn.execute("SELECT question_id, model_a, model_b, shown_left, annotator FROM battles").fetchall()
    conn.close()
    assert row == [(battle.question_id, battle.model_a, battle.model_b, battle.shown_left, "ann-hash")]


def test_the_salt_is_made_once_per_store(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        salt = arena.store_salt(store)
        assert arena.store_salt(store) == salt and len(salt) == 32
    with Store(tmp_path / "s.db") as store:
        assert arena.store_salt(store) == salt
    assert arena.annotator_hash(" ann ", salt) == annotator_id("ann", salt) != "ann"
    with pytest.raises(ValueError):
        arena.annotator_hash("  ", salt)


# -- votes -------------------------------------------------------------------------------------------

def _battle(store: Store, annotator: str = "ann", shown_left: str = "model_b") -> Battle:
    battle_id = store.add_battle("q1", "base", "sft", shown_left=shown_left, annotator=annotator)
    return Battle(battle_id, "q1", "base", "sft", shown_left, annotator)


def test_a_vote_is_stored_once_with_the_shown_order(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        battle = _battle(store, shown_left="model_b")
        assert arena.cast_vote(store, battle, battle.id, "ann", Position.LEFT, 20) is VoteResult.STORED
        # A double submit, of the same or another button, is ignored: still one row.
        assert arena.cast_vote(store, battle, battle.id, "ann", Position.LEFT, 20) is VoteResult.DUPLICATE
        assert arena.cast_vote(store, battle, battle.id, "ann", Position.RIGHT, 20) is VoteResult.DUPLICATE
    rows = _rows(tmp_path / "s.db")
    assert len(rows) == 1
    assert (rows[0]["choice"], rows[0]["shown_left"], rows[0]["annotator"]) == ("model_b", "model_b", "ann")


def test_a_vote_on_another_sessions_battle_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        mine = _battle(store, "ann")
        theirs = _battle(store, "bob")
        # Not the battle this session shows.
        assert arena.cast_vote(store, mine, theirs.id, "ann", Position.LEFT, 20) is VoteResult.REFUSED
        # A session claiming someone else's battle: the stored battle was shown to another annotator.
        forged = Battle(theirs.id, "q1", "base", "sft", "model_b", "ann")
        assert arena.cast_vote(store, forged, theirs.id, "ann", Position.LEFT, 20) is VoteResult.REFUSED
        # A battle that does not exist, and a session without a battle.
        ghost = Battle(9999, "q1", "base", "sft", "model_a", "ann")
        assert arena.cast_vote(store, ghost, 9999, "ann", Position.LEFT, 20) is VoteResult.REFUSED
        assert arena.cast_vote(store, None, mine.id, "ann", Position.LEFT, 20) is VoteResult.REFUSED
        # The annotator must be the battle's.
        assert arena.cast_vote(store, mine, mine.id, "bob", Position.LEFT, 20) is VoteResult.REFUSED
    assert _rows(tmp_path / "s.db") == []


def test_the_rate_limit_counts_the_last_minute_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        results = [arena.cast_vote(store, b, b.id, "ann", Position.TIE, 3) for b in [_battle(store) for _ in range(4)]]
        assert results == [VoteResult.STORED] * 3 + [VoteResult.RATE_LIMITED]
        # Another annotator has their own allowance.
        other = _battle(store, "bob")
        assert arena.cast_vote(store, other, other.id, "bob", Position.TIE, 3) is VoteResult.STORED
    # A second process (another session) sees the same count: the limit is in the store, not in memory.
    with Store(path) as store:
        battle = _battle(store)
        assert arena.cast_vote(store, battle, battle.id, "ann", Position.TIE, 3) is VoteResult.RATE_LIMITED
        # A minute later the earlier votes no longer count.
        later = datetime.now(UTC) + timedelta(seconds=61)
        assert arena.cast_vote(store, battle, battle.id, "ann", Position.TIE, 3, now=later) is VoteResult.STORED
    assert len(_rows(path)) == 5


# -- two annotators at once --------------------------------------------------------------------------------

N_VOTES = 50

# One annotator per process, each with its own Store; all start together once every one has opened the file.
VOTER = """
import random, sys, time
from pathlib import Path
from evalkit.leaderboard import arena
from evalkit.leaderboard.arena import Position, VoteResult
from evalkit.store import Store

db, name, go, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
candidates = {"q1": ("base", "sft"), "q2": ("base", "sft", "dpo")}
with Store(db) as store:
    (go.parent / ("ready-" + name)).touch()
    while not go.exists():
        time.sleep(0.001)
    for _ in range(n):
        battle = arena.start_battle(store, candidates, name, random.Random())
        result = arena.cast_vote(store, battle, battle.id, name, Position.LEFT, votes_per_minute=10_000)
        assert result is VoteResult.STORED, result
print("ok")
"""


def test_concurrent_voters_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    go = tmp_path / "go"
    names = ["ann", "bob", "cy"]
    voters = [subprocess.Popen([sys.executable, "-c", VOTER, str(path), name, str(go), str(N_VOTES)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in names) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [voter.communicate(timeout=180) for voter in voters]
    assert [(v.returncode, out.strip()) for v, (out, _) in zip(voters, outputs, strict=True)] == [(0, "ok")] * 3, \
        [err for _, err in outputs]
    rows = _rows(path)
    assert len(rows) == N_VOTES * len(names)
    assert {name: sum(r["annotator"] == name for r in rows) for name in names} == dict.fromkeys(names, N_VOTES)
    assert len({r["battle_id"] for r in rows}) == len(rows)
