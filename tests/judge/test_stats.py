"""Summary statistics of a pairwise run against hand-computed values; the bootstrap under a seed."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.judge.interfaces import Answer, Outcome, PairJudgment, PairVerdict
from evalkit.judge.protocol import outcome_of
from evalkit.judge.stats import bootstrap_mean_interval, summarize

A, B, C, U = PairVerdict.A, PairVerdict.B, PairVerdict.TIE, PairVerdict.UNSCORED


def _j(qid: str, ab: PairVerdict, ba: PairVerdict, category: str = "math") -> PairJudgment:
    return PairJudgment(question_id=qid, model_a="ma", model_b="mb", judge="e#j", prompt_version="v",
                        mode="pairwise", verdict_ab=ab, verdict_ba=ba, raw_ab="", raw_ba="",
                        outcome=outcome_of(ab, ba), category=category)


# q1 win, q2 win, q3 loss, q4 tie (disagreement: first position both times), q5 tie (tie/tie),
# q6 unscored, q7 tie (A then tie).
JUDGMENTS = [_j("q1", A, B), _j("q2", A, B), _j("q3", B, A), _j("q4", A, A, "writing"), _j("q5", C, C),
             _j("q6", A, U), _j("q7", A, C, "writing")]
ANSWERS_A = [Answer(f"q{i}", "a" * i) for i in range(1, 8)]  # lengths 1..7, mean 4
ANSWERS_B = [Answer(f"q{i}", "bb", second_answer="cc") for i in range(1, 8)] + [Answer("extra", "z" * 99)]


def test_hand_computed_summary() -> None:
    s = summarize(JUDGMENTS, ANSWERS_A, ANSWERS_B, seed=0, bootstrap=100)
    assert (s["wins"], s["losses"], s["ties"], s["unscored"], s["scored"], s["questions"]) == (2, 1, 3, 1, 6, 7)
    assert s["win_rate"] == pytest.approx(2 / 6)
    assert s["adjusted_win_rate"] == pytest.approx((2 + 1.5) / 6)
    # Survive the swap: q1, q2, q3 (A/B, B/A) and q5 (tie/tie); not q4, q7. Of 6 scored questions.
    assert s["position_consistency"] == pytest.approx(4 / 6)
    # Decisive calls (A or B, any question incl. the unscored one's readable order):
    # q1 A,B q2 A,B q3 B,A q4 A,A q6 A q7 A → 10 calls, first position picked 7 times.
    assert s["decisive_calls"] == 10 and s["first_position_rate"] == pytest.approx(7 / 10)
    assert s["mean_answer_length"] == {"ma": 4.0, "mb": 4.0}  # only judged questions; both turns
    assert s["by_category"]["writing"] == {"questions": 2, "wins": 0, "losses": 0, "ties": 2, "unscored": 0,
                                           "scored": 2}
    low, high = s["adjusted_win_rate_ci"]
    assert 0.0 <= low <= s["adjusted_win_rate"] <= high <= 1.0


def test_bootstrap_resamples_questions_with_a_seeded_generator() -> None:
    points = np.array([1.0, 1.0, 0.0, 0.5, 0.5, 0.5])
    # An independent computation: numpy directly, same draws.
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 6, size=(500, 6))
    expected = np.percentile(points[draws].mean(axis=1), [2.5, 97.5])
    got = bootstrap_mean_interval(points, 500, np.random.default_rng(7))
    assert got == pytest.approx(tuple(expected))
    assert bootstrap_mean_interval(points, 500, np.random.default_rng(7)) == got
    assert bootstrap_mean_interval(points, 500, np.random.default_rng(8)) != got
    s1 = summarize(JUDGMENTS, ANSWERS_A, ANSWERS_B, seed=3, bootstrap=300)
    s2 = summarize(JUDGMENTS, ANSWERS_A, ANSWERS_B, seed=3, bootstrap=300)
    assert s1 == s2
    # Both orders of a question move together: one point per scored question, never per call.
    constant = bootstrap_mean_interval(np.full(4, 0.5), 50, np.random.default_rng(0))
    assert constant == (0.5, 0.5)


def test_no_scored_question_gives_no_rates() -> None:
    s = summarize([_j("q1", U, U)], ANSWERS_A, ANSWERS_B)
    assert s["unscored"] == 1 and s["scored"] == 0
    assert s["win_rate"] is s["adjusted_win_rate"] is s["adjusted_win_rate_ci"] is s["position_consistency"] is None
    assert Outcome.UNSCORED.value == "unscored"
