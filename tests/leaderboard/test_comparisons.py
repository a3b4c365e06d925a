"""Pure frames of the Pairwise and Ratings pages: orientation, heatmap counts, summaries, ratings, agreement
with people (the agreement report of the stored verdicts and votes)."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalkit.judge.agreement import HumanVote, JudgedPair, agreement_report, human_agreement
from evalkit.judge.interfaces import Outcome, PairVerdict
from evalkit.judge.records import pair_from_record
from evalkit.judge.stats import summarize
from evalkit.leaderboard import comparisons, queries
from evalkit.ratings.table import RatingSettings, rate
from evalkit.ratings.votes import votes_from_rows
from evalkit.store import Store

# verdict_ab, verdict_ba, outcome for model A (the swap rule's result, as the judge stores it)
WIN, LOSS, TIE = ("A", "B", "win"), ("B", "A", "loss"), ("C", "C", "tie")
INCONSISTENT_TIE = ("A", "A", "tie")
UNSCORED = ("unscored", "A", "unscored")


def record(question: str, a: str, b: str, verdicts: tuple[str, str, str], judge: str = "j#m",
           version: str = "v1", mode: str = "pairwise") -> dict[str, Any]:
    ab, ba, outcome = verdicts
    return {"question_id": question, "category": "writing", "model_a": a, "model_b": b, "judge": judge,
            "prompt_version": version, "mode": mode, "verdict_ab": ab, "verdict_ba": ba,
            "raw_ab": f"{question} ab [[{ab}]]", "raw_ba": f"{question} ba [[{ba}]]", "outcome": outcome,
            "extra": {}}


RECORDS = [record("q1", "base", "sft", WIN), record("q2", "base", "sft", TIE), record("q3", "base", "sft", LOSS),
           record("q4", "base", "sft", UNSCORED), record("q1", "sft", "dpo", LOSS), record("q2", "sft", "dpo", LOSS),
           record("q3", "sft", "dpo", INCONSISTENT_TIE)]


def test_flip_sees_the_same_judgment_from_model_b() -> None:
    j = pair_from_record(record("q1", "base", "sft", ("A", "C", "win")))
    f = comparisons.flip(j)
    assert (f.model_a, f.model_b, f.outcome) == ("sft", "base", Outcome.LOSS)
    # The second call showed sft first: from sft's side it is the first call now.
    assert (f.verdict_ab, f.verdict_ba, f.raw_ab, f.raw_ba) == (PairVerdict.TIE, PairVerdict.A, j.raw_ba, j.raw_ab)
    assert comparisons.flip(f) == j


def test_pairs_keep_their_first_stored_orientation() -> None:
    reverse = record("q5", "sft", "base", WIN)  # sft beat base, stored the other way round
    pairs = comparisons.judgments_by_pair([*RECORDS, reverse])
    assert list(pairs) == [("base", "sft"), ("sft", "dpo")]
    last = pairs[("base", "sft")][-1]
    assert (last.question_id, last.model_a, last.outcome) == ("q5", "base", Outcome.LOSS)


def test_heatmap_counts_match_the_records() -> None:
    cells = comparisons.heatmap_frame(RECORDS).set_index(["row", "column"])
    assert len(cells) == 4
    base_sft = cells.loc[("base", "sft")]
    assert (base_sft.wins, base_sft.ties, base_sft.losses, base_sft.unscored, base_sft.label) == (1, 1, 1, 1, "1/1/1")
    assert base_sft.win_rate == pytest.approx(0.5)
    sft_base = cells.loc[("sft", "base")]
    assert (sft_base.wins, sft_base.losses, sft_base.label) == (1, 1, "1/1/1")
    dpo_sft = cells.loc[("dpo", "sft")]
    assert (dpo_sft.wins, dpo_sft.ties, dpo_sft.losses, dpo_sft.label) == (2, 1, 0, "2/1/0")
    assert dpo_sft.win_rate == pytest.approx(2.5 / 3)
    assert cells.loc[("sft", "dpo")].win_rate == pytest.approx(0.5 / 3)


def test_pair_summaries_are_the_judge_summaries() -> None:
    answers = {"base": [{"question_id": "q1", "answer": "abcd", "second_answer": None}],
               "sft": [{"question_id": "q1", "answer": "ab", "second_answer": "cd"}]}
    summaries = comparisons.pair_summaries(RECORDS, answers)
    direct = summarize([pair_from_record(r) for r in RECORDS[:4]],
                       [], [], seed=0, bootstrap=1000)
    assert summaries[0] | {"mean_answer_length": None} == direct | {"mean_answer_length": None}
    assert summaries[0]["mean_answer_length"] == {"base": 4.0, "sft": 4.0}
    assert summaries[1]["position_consistency"] == pytest.approx(2 / 3)
    table = comparisons.pair_table(summaries)
    assert list(table["model A"]) == ["base", "sft"]
    assert table.loc[0, "adjusted win rate"] == direct["adjusted_win_rate"]
    assert table.loc[0, "95% low"] == direct["adjusted_win_rate_ci"][0]
    assert table.loc[0, "unscored"] == 1


def test_preferred_names_what_each_call_chose() -> None:
    assert comparisons.preferred(record("q", "base", "sft", ("A", "B", "win"))) == ("base", "base")
    assert comparisons.preferred(record("q", "base", "sft", ("B", "A", "loss"))) == ("sft", "sft")
    assert comparisons.preferred(record("q", "base", "sft", ("C", "unscored", "unscored"))) == ("tie", "unscored")


def test_queries_return_what_was_stored(store_spec: str | Path) -> None:
    path = store_spec
    with Store(path) as store:
        store.put_judgments([*RECORDS, record("q1", "base", "sft", WIN, judge="other#m"),
                             record("q1", "base", "", ("7", "", "rated"), mode="single") | {"rating": 7.0}])
        store.put_answers([{"model": m, "question_id": q, "prompt": f"prompt {q}", "answer": f"{m} on {q}",
                            "source": "file"} for m, q in [("base", "q1"), ("sft", "q1"), ("sft", "q2")]])
        battle = store.add_battle("q1", "base", "sft", shown_left="model_b", annotator="h")
        store.add_vote(battle, "h", "model_b")
    with Store(path) as opened:
        conn = functools.partial(queries.read, opened)
        assert conn(queries.judgment_filters) == {"j#m": ["v1"], "other#m": ["v1"]}
        stored = conn(queries.pair_judgments, "j#m", "v1")
        assert [(r["question_id"], r["model_a"], r["outcome"]) for r in stored] == \
            [(r["question_id"], r["model_a"], r["outcome"]) for r in RECORDS]
        assert len(conn(queries.pair_judgments)) == len(RECORDS) + 1  # the single-answer grade is not pairwise
        cells = comparisons.heatmap_frame(stored)
        scored = sum(r["outcome"] in ("win", "loss", "tie") for r in RECORDS)
        assert int((cells["wins"] + cells["ties"] + cells["losses"]).sum()) == 2 * scored  # each pair drawn both ways
        assert int(cells["unscored"].sum()) == 2 * sum(r["outcome"] == "unscored" for r in RECORDS)
        assert conn(queries.arena_candidates) == {"q1": ("base", "sft")}
        shown = conn(queries.battle_answers, "q1", "sft", "base")
        assert shown is not None and shown["answers"]["sft"] == ("sft on q1", None)
        assert conn(queries.battle_answers, "q2", "sft", "base") is None
        assert conn(queries.human_votes) == [("q1", "base", "sft", "model_b")]
        assert len(conn(queries.judge_votes)) == scored + 1
        assert conn(queries.battle_state, battle) == {"annotator": "h", "voted": True}
        assert conn(queries.battle_state, battle + 1) is None


# -- ratings -------------------------------------------------------------------------------------------

HUMAN = [("q1", "base", "sft", "model_b"), ("q2", "sft", "base", "model_a"), ("q3", "base", "sft", "tie"),
         ("q1", "sft", "dpo", "model_b"), ("q2", "dpo", "sft", "tie (bothbad)"), ("q3", "base", "dpo", "model_a"),
         ("q4", "dpo", "base", "model_a")]


def test_bt_ratings_are_rate_of_the_stored_votes() -> None:
    ratings = comparisons.bt_ratings(comparisons.human_rating_votes(HUMAN))
    votes = votes_from_rows([(a, b, c) for _, a, b, c in HUMAN], "direct")
    table = rate(votes, "bt", RatingSettings())
    assert list(ratings.rows["model"]) == [r.model for r in table.rows]
    assert np.allclose(ratings.rows["rating"], [r.rating for r in table.rows])
    assert np.allclose(ratings.rows["lower"], [r.lower for r in table.rows])
    assert list(ratings.rows["rank"]) == [r.rank for r in table.rows]
    assert list(ratings.rows["votes"]) == [r.votes for r in table.rows]
    assert ratings.votes == len(HUMAN) and ratings.warnings == table.warnings
    cell = ratings.matrix.set_index(["row", "column"]).loc[("base", "sft"), "win_rate"]
    assert cell == pytest.approx(table.win_rate[votes.models.index("base"), votes.models.index("sft")])
    assert len(ratings.matrix) == 6


def test_models_with_only_wins_are_kept_out_of_the_chart() -> None:
    ratings = comparisons.bt_ratings(comparisons.judge_rating_votes([("q1", "a", "b", "win"), ("q2", "a", "b", "win"),
                                                                    ("q3", "b", "c", "tie")]))
    assert ratings.warnings
    assert set(ratings.rows["model"]) == {"a", "b", "c"}
    chart = ratings.chart_rows()
    assert "a" not in set(chart["model"])
    assert all(np.isfinite(chart["lower"])) and all(np.isfinite(chart["upper"]))
    assert comparisons.try_bt_ratings([], human=True) is None


# -- agreement ---------------------------------------------------------------------------------------------

def verdict_row(question: str, a: str, b: str, verdicts: tuple[str, str, str], judge: str = "j#m",
                version: str = "v1") -> dict[str, str]:
    """A :func:`queries.pair_verdicts` record."""
    ab, ba, outcome = verdicts
    return {"judge": judge, "prompt_version": version, "question_id": question, "model_a": a, "model_b": b,
            "verdict_ab": ab, "verdict_ba": ba, "outcome": outcome}


def test_judged_pairs_per_judge_and_prompt() -> None:
    rows = [verdict_row("q1", "base", "sft", WIN), verdict_row("q2", "base", "sft", ("B", "unscored", "loss")),
            verdict_row("q3", "base", "sft", UNSCORED), verdict_row("q1", "base", "sft", TIE, version="v2"),
            verdict_row("q4", "sft", "dpo", INCONSISTENT_TIE, judge="other#m"),
            verdict_row("q1", "sft", "base", LOSS)]  # the same pair again, the other way round: the latest counts
    judged = comparisons.judged_pairs(rows)
    assert list(judged) == [("j#m", "v1"), ("j#m", "v2"), ("other#m", "v1")]
    assert judged[("j#m", "v1")] == [JudgedPair("q2", "base", "sft", "model_b", "B", None),
                                      JudgedPair("q1", "sft", "base", "model_b", "B", "A")]
    assert judged[("j#m", "v2")] == [JudgedPair("q1", "base", "sft", "tie", "C", "C")]
    assert judged[("other#m", "v1")] == [JudgedPair("q4", "sft", "dpo", "tie", "A", "A")]


def _seeded_store(path: str | Path) -> None:
    """Judgments of two judges and human votes, the arena's (add_battle/add_vote) and imported ones."""
    with Store(path) as store:
        store.put_judgments([*RECORDS[:4], record("q1", "base", "sft", LOSS, judge="other#m"),
                             record("q2", "base", "sft", WIN, judge="other#m")])
        for question, a, b, choice in [("q1", "base", "sft", "model_a"), ("q1", "sft", "base", "model_b"),
                                       ("q2", "base", "sft", "tie")]:
            store.add_vote(store.add_battle(question, a, b, annotator="h"), "h", choice)
        store.import_votes([HumanVote("q1", "sft", "base", "model_a"), HumanVote("q2", "sft", "base", "tie (bothbad)"),
                            HumanVote("q2", "base", "sft", "model_a", "ann"), HumanVote("q3", "sft", "base", "model_a"),
                            HumanVote("q4", "base", "sft", "model_b")], "votes.csv")


def test_agreement_frame_is_the_agreement_report_of_the_stored_rows(store_spec: str | Path) -> None:
    _seeded_store(store_spec)
    with Store(store_spec) as store:  # as the app reads (data.load)
        verdicts, human = queries.read(store, queries.pair_verdicts), queries.read(store, queries.human_votes)
    assert verdicts[3] == verdict_row("q4", "base", "sft", UNSCORED) and len(verdicts) == 6
    assert len(human) == 8
    frame = comparisons.agreement_frame(verdicts, human).set_index("judge")
    assert list(frame.index) == ["j#m", "other#m", comparisons.PEOPLE]

    # The same report from the stored facts written out by hand (base = model_a of every judged pair).
    votes = [HumanVote("q1", "base", "sft", "model_a"), HumanVote("q1", "sft", "base", "model_b"),
             HumanVote("q2", "base", "sft", "tie"), HumanVote("q1", "sft", "base", "model_a"),
             HumanVote("q2", "sft", "base", "tie (bothbad)"), HumanVote("q2", "base", "sft", "model_a"),
             HumanVote("q3", "sft", "base", "model_a"), HumanVote("q4", "base", "sft", "model_b")]
    judges = {"j#m": [JudgedPair("q1", "base", "sft", "model_a", "A", "B"),
                      JudgedPair("q2", "base", "sft", "tie", "C", "C"),
                      JudgedPair("q3", "base", "sft", "model_b", "B", "A")],
              "other#m": [JudgedPair("q1", "base", "sft", "model_b", "B", "A"),
                          JudgedPair("q2", "base", "sft", "model_a", "A", "B")]}
    for judge, judged in judges.items():
        report = agreement_report(judged, votes, bootstrap=1000, seed=0)
        row = frame.loc[judge]
        assert (row["prompt version"], row["pairs"], row["votes"]) == ("v1", report["pairs"], report["votes"])
        for path_, column in comparisons.AGREEMENT_STATS:
            stat: Any = report
            for key in path_:
                stat = stat[key]
            assert row[f"{column} n"] == stat["n"], (judge, column)
            expected = [math.nan if x is None else x for x in [stat["value"], *(stat["ci"] or [None, None])]]
            assert np.allclose(list(row[[column, f"{column} low", f"{column} high"]]), expected, equal_nan=True), \
                (judge, column)
    # Hand-computed: j#m's three scored pairs hold 7 votes (q4's verdict is unscored), 5 name its winner; of
    # the 4 votes on its two decisive pairs 3 agree; every pair's most common vote is its verdict; two
    # different votes on one pair agree in (2 + 2) of the (6 + 6 + 0) ordered pairs of votes.
    jm = frame.loc["j#m"]
    assert (jm["pairs"], jm["votes"]) == (3, 7)
    assert jm["agreement"] == pytest.approx(5 / 7) and jm["agreement without ties"] == pytest.approx(3 / 4)
    assert jm["with the majority"] == 1.0 and jm["people on these pairs"] == pytest.approx(4 / 12)
    assert jm["position consistency"] == 1.0

    people = frame.loc[comparisons.PEOPLE]
    ceiling = human_agreement(votes, bootstrap=1000, seed=0)
    assert (people["pairs"], people["votes"]) == (ceiling["pairs"], ceiling["votes"]) == (4, 8)
    assert people["agreement"] == ceiling["per_vote"]["value"] == pytest.approx(4 / 12)
    assert [people["agreement low"], people["agreement high"]] == ceiling["per_vote"]["ci"]
    assert people["leave one out"] == ceiling["leave_one_out"]["value"]
    assert math.isnan(people["with the majority"]) and math.isnan(people["Kendall τ"])


def test_agreement_table_shows_value_and_interval() -> None:
    rows = [verdict_row("q1", "base", "sft", WIN), verdict_row("q2", "base", "sft", LOSS)]
    human = [("q1", "base", "sft", "model_a"), ("q2", "sft", "base", "model_a"), ("q2", "sft", "base", "tie")]
    frame = comparisons.agreement_frame(rows, human, bootstrap=0)  # no rounds: no intervals
    table = comparisons.agreement_table(frame)
    assert list(table.columns) == ["judge", "prompt version", "pairs", "votes",
                                   *(column for _, column in comparisons.AGREEMENT_STATS)]
    assert list(table["judge"]) == ["j#m", comparisons.PEOPLE]
    assert table.loc[0, "agreement"] == f"{2 / 3:.3f}" and table.loc[1, "with the majority"] == "—"
    assert table.loc[1, "prompt version"] == ""
    with_ci = comparisons.agreement_table(comparisons.agreement_frame(rows, human))
    low, high = comparisons.agreement_frame(rows, human).loc[0, ["agreement low", "agreement high"]]
    assert with_ci.loc[0, "agreement"] == f"{2 / 3:.3f} [{low:.3f}, {high:.3f}]"


def test_no_agreement_without_votes_or_scored_verdicts() -> None:
    assert comparisons.agreement_frame([verdict_row("q1", "a", "b", WIN)], []).empty
    assert comparisons.agreement_frame([verdict_row("q1", "a", "b", UNSCORED)], [("q1", "a", "b", "tie")]).empty
    assert list(comparisons.agreement_frame([], []).columns) == comparisons.agreement_columns()


def test_agreement_chart_rows_are_the_frames_two_mt_bench_figures() -> None:
    rows = [verdict_row("q1", "base", "sft", WIN), verdict_row("q2", "base", "sft", LOSS)]
    human = [("q1", "base", "sft", "model_a"), ("q2", "sft", "base", "model_a"), ("q2", "sft", "base", "tie")]
    frame = comparisons.agreement_frame(rows, human)
    chart = comparisons.agreement_chart_rows(frame)
    # People have no two non-tie votes on one pair here: no "without ties" point for them.
    assert list(chart["judge"]) == ["j#m (v1)", "j#m (v1)", comparisons.PEOPLE]
    assert list(chart["statistic"]) == [*comparisons.CHART_STATS, "agreement"]
    first = chart.iloc[0]
    assert (first["value"], first["low"], first["high"]) == tuple(frame.loc[0, ["agreement", "agreement low",
                                                                                "agreement high"]])
