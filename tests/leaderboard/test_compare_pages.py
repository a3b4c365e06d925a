"""AppTest of the Pairwise, Arena and Ratings pages on the store seeded by real evalkit runs, and on an empty one.

Numbers on the pages are checked against the library called directly on what the Store API reads back:
``evalkit.judge.stats.summarize`` for the judge's pairs, ``evalkit.ratings.table.rate`` for ratings.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalkit.judge.interfaces import Answer
from evalkit.judge.records import pair_from_record
from evalkit.judge.stats import summarize
from evalkit.leaderboard.arena import Position
from evalkit.ratings.table import RatingSettings, rate
from evalkit.ratings.votes import JUDGMENT_WINNER, annotator_id, votes_from_rows
from evalkit.store import Store
from tests.leaderboard.conftest import FIXTURE_JUDGE, SeededStore

PAIRWISE, ARENA, RATINGS = "views/pairwise.py", "views/arena.py", "views/ratings.py"


def open_page(app_test: Callable[..., Any], store: Path, page: str, **kwargs: Any) -> Any:
    at = app_test(store, **kwargs)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: Any) -> str:
    """Every text the page shows (markdown, captions, messages), one per line."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def vote_rows(store: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store)
    try:
        return conn.execute("SELECT v.battle_id, v.annotator, v.choice, b.shown_left, b.model_a, b.model_b, "
                            "b.question_id FROM votes v JOIN battles b ON b.id = v.battle_id ORDER BY v.id").fetchall()
    finally:
        conn.close()


def battle_count(store: Path) -> int:
    conn = sqlite3.connect(store)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM battles").fetchone()[0])
    finally:
        conn.close()


# -- Pairwise -----------------------------------------------------------------------------------------------

def test_pairwise_shows_every_pair_with_the_judge_statistics(app_test: Callable[..., Any],
                                                            seeded_store: SeededStore) -> None:
    at = open_page(app_test, seeded_store.path, PAIRWISE)
    at.selectbox(key="pairwise_judge").select(FIXTURE_JUDGE).run()
    assert not at.exception
    with Store(seeded_store.path) as store:
        records = store.get_judgments(judge=FIXTURE_JUDGE)
        answers = {m: store.get_answers(m) for m in seeded_store.judge_models}
    pairs = list(dict.fromkeys((r["model_a"], r["model_b"]) for r in records))
    assert len(pairs) == 3  # base-SFT, SFT-DPO, base-DPO
    table = at.dataframe[0].value
    assert list(zip(table["model A"], table["model B"], strict=True)) == pairs
    for row, (a, b) in zip(table.to_dict("records"), pairs, strict=True):
        def mine(model: str) -> list[Answer]:
            return [Answer(x["question_id"], x["answer"], x["second_answer"]) for x in answers[model]]

        direct = summarize([pair_from_record(r) for r in records if (r["model_a"], r["model_b"]) == (a, b)],
                           mine(a), mine(b))
        assert (row["wins"], row["ties"], row["losses"], row["unscored"], row["questions"]) == \
            (direct["wins"], direct["ties"], direct["losses"], direct["unscored"], direct["questions"])
        assert row["adjusted win rate"] == pytest.approx(direct["adjusted_win_rate"])
        assert [row["95% low"], row["95% high"]] == pytest.approx(direct["adjusted_win_rate_ci"])
        assert row["position consistency"] == pytest.approx(direct["position_consistency"])
    # Both verdicts of every question of the chosen pair, with the judge's text.
    first = [r for r in records if (r["model_a"], r["model_b"]) == pairs[0]]
    assert len(at.expander) == len(first)
    shown = {t.value for t in at.text_area}
    assert all(r["raw_ab"] in shown and r["raw_ba"] in shown for r in first)
    # The other judge (the tiny model: every verdict unscored) is a filter away.
    others = [j for j in at.selectbox(key="pairwise_judge").options if j != FIXTURE_JUDGE]
    assert others
    at.selectbox(key="pairwise_judge").select(others[0]).run()
    assert not at.exception
    assert set(at.dataframe[0].value["wins"]) == {0}


# -- Arena ---------------------------------------------------------------------------------------------------

def sign_in(at: Any, name: str = "tester", token: str | None = None) -> Any:
    at.text_input(key="arena_name").input(name)
    if token is not None:
        at.text_input(key="arena_token").input(token)
    at.button(key="arena_start").click().run()
    assert not at.exception, at.exception
    return at


def test_arena_battle_vote_reveal_and_double_submit(app_test: Callable[..., Any], seeded_copy: SeededStore) -> None:
    store = seeded_copy.path
    before = vote_rows(store)
    at = open_page(app_test, store, ARENA, arena=True)
    sign_in(at)
    battle = at.session_state["arena_battle"]
    assert {battle.model_a, battle.model_b} <= set(seeded_copy.judge_models)
    # Names are not shown before the vote.
    assert battle.model_a not in texts(at) and battle.model_b not in texts(at)
    # A rerun keeps the battle (no reshuffle, no new battle row).
    battles = battle_count(store)
    at.run()
    assert at.session_state["arena_battle"] == battle and battle_count(store) == battles
    with Store(store) as s:
        salt = s.setting("annotator_salt", lambda: "unused")
    assert battle.annotator == annotator_id("tester", salt)
    at.button(key="arena_vote_left").click().run()
    assert not at.exception
    after = vote_rows(store)
    assert after[:len(before)] == before and len(after) == len(before) + 1
    battle_id, annotator, choice, shown_left, model_a, model_b, _ = after[-1]
    assert (battle_id, annotator, shown_left, model_a, model_b) == \
        (battle.id, battle.annotator, battle.shown_left, battle.model_a, battle.model_b)
    assert choice == battle.choice(Position.LEFT)  # the left answer's model, whichever it was
    assert choice == ("model_a" if battle.shown_left == "model_a" else "model_b")
    # Names are revealed after the vote, left as A.
    assert f"A was **{battle.left}**, B was **{battle.right}**" in texts(at)
    # After the vote the buttons are disabled; a second submit that still arrives stores nothing more.
    assert at.button(key="arena_vote_left").disabled and at.button(key="arena_vote_right").disabled
    assert len(vote_rows(store)) == len(before) + 1
    # The next battle is a new one.
    at.button(key="arena_next").click().run()
    assert at.session_state["arena_battle"].id != battle.id
    assert "A was **" not in texts(at)
    # A double submit (two clicks arriving before the page redraws, here in one run): one vote.
    second = at.session_state["arena_battle"]
    at.button(key="arena_vote_left").click()
    at.button(key="arena_vote_right").click()
    at.run()
    assert not at.exception
    rows = vote_rows(store)
    assert len(rows) == len(before) + 2
    assert rows[-1][0] == second.id and rows[-1][2] in (second.choice(Position.LEFT), second.choice(Position.RIGHT))


def test_arena_needs_a_name(app_test: Callable[..., Any], seeded_copy: SeededStore) -> None:
    at = open_page(app_test, seeded_copy.path, ARENA, arena=True)
    at.button(key="arena_start").click().run()
    assert "Enter a name first." in texts(at)
    assert "arena_annotator" not in at.session_state and "arena_battle" not in at.session_state


def test_arena_with_tokens_lets_only_token_holders_vote(app_test: Callable[..., Any], seeded_copy: SeededStore,
                                                        tmp_path: Path) -> None:
    salt = "ab" * 16
    tokens = tmp_path / "tokens.tsv"
    tokens.write_text(f"# annotators\nann\t{salt}\t{hashlib.sha256((salt + 'right-token').encode()).hexdigest()}\n")
    at = open_page(app_test, seeded_copy.path, ARENA, arena=True, tokens=tokens)
    sign_in(at, "ann", "wrong-token")
    assert "Unknown name or wrong token." in texts(at)
    assert "arena_battle" not in at.session_state
    sign_in(at, "bob", "right-token")
    assert "Unknown name or wrong token." in texts(at)
    sign_in(at, "ann", "right-token")
    assert at.session_state["arena_battle"] is not None
    at.button(key="arena_vote_tie").click().run()
    assert vote_rows(seeded_copy.path)[-1][2] == "tie"


def test_arena_reports_a_bad_tokens_file(app_test: Callable[..., Any], seeded_copy: SeededStore,
                                         tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.tsv"
    tokens.write_text("ann\tnot-a-salt\tx\n")
    at = open_page(app_test, seeded_copy.path, ARENA, arena=True, tokens=tokens)
    assert [e.value for e in at.error] == [f"{tokens}:1: the salt must be 32 lowercase hex characters"]


def test_arena_rate_limit(app_test: Callable[..., Any], seeded_copy: SeededStore) -> None:
    at = open_page(app_test, seeded_copy.path, ARENA, arena=True, votes_per_minute=1)
    sign_in(at, "someone new")  # the seeded store's annotators voted moments ago
    before = len(vote_rows(seeded_copy.path))
    at.button(key="arena_vote_right").click().run()
    at.button(key="arena_next").click().run()
    at.button(key="arena_vote_right").click().run()
    assert not at.exception
    assert any("at most 1 votes a minute" in w.value for w in at.warning)
    assert len(vote_rows(seeded_copy.path)) == before + 1
    assert "A was **" not in texts(at)  # not stored: names stay hidden


# -- Ratings ---------------------------------------------------------------------------------------------------

def test_ratings_equal_rate_on_the_stored_votes(app_test: Callable[..., Any], seeded_store: SeededStore) -> None:
    at = open_page(app_test, seeded_store.path, RATINGS)
    with Store(seeded_store.path) as store:
        human = votes_from_rows(store.list_votes(), "votes")
        judge = votes_from_rows([(a, b, JUDGMENT_WINNER[o]) for a, b, o in store.judgment_votes()], "judgments")
    assert len(at.tabs) == 2
    for frame, votes in zip((at.dataframe[0].value, at.dataframe[1].value), (human, judge), strict=True):
        table = rate(votes, "bt", RatingSettings())
        assert list(frame["model"]) == [r.model for r in table.rows]
        assert np.allclose(frame["rating"], [r.rating for r in table.rows])
        assert np.allclose(frame["lower"], [r.lower for r in table.rows])
        assert np.allclose(frame["upper"], [r.upper for r in table.rows])
        assert list(frame["rank"]) == [r.rank for r in table.rows]
        assert list(frame["votes"]) == [r.votes for r in table.rows]
        warnings = {w.value for w in at.warning}
        assert set(table.warnings) <= warnings
    # The agreement table: the seeded judge's row and people's ceiling, with what the columns mean.
    from evalkit.leaderboard.comparisons import PEOPLE

    assert any("Kendall τ" in c.value for c in at.caption)
    with Store(seeded_store.path) as store:
        judges = list(dict.fromkeys(r["judge"] for r in store.get_judgments() if r["model_b"]
                                    and r["outcome"] != "unscored"))
    assert len(judges) >= 2 and list(at.dataframe[-1].value["judge"]) == [*judges, PEOPLE]


def test_pages_on_an_empty_store_say_how_to_start(app_test: Callable[..., Any], empty_store: Path) -> None:
    for page, hint in ((PAIRWISE, "evalkit judge"), (RATINGS, "--arena"), (ARENA, "evalkit judge")):
        at = open_page(app_test, empty_store, page, arena=True)
        assert any(hint in i.value for i in at.info), (page, [i.value for i in at.info])

