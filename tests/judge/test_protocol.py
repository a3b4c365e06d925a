"""The pairwise protocol with a scripted judge: the swap rule, the verdict-only retry, unscored counting.

The judge here is a deterministic fake written for the test: it reads which answer is shown first
from the rendered prompt and replies with scripted text, so every path of the protocol is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.judge.interfaces import Answer, JudgeRequest, Outcome, PairVerdict, Question
from evalkit.judge.prompts import PROMPT_VERSION
from evalkit.judge.protocol import judge_pairwise, judge_single, outcome_of
from evalkit.judge.records import pair_from_record, pair_record, single_record
from evalkit.judge.stats import summarize
from evalkit.store import Store

Reply = Callable[[str, str, JudgeRequest], str]


class ScriptedJudge:
    """A JudgeClient whose reply is ``script(question_id, first_shown_model, request)``."""

    endpoint = "http://judge.test/v1"
    model = "scripted"

    def __init__(self, script: Reply) -> None:
        self.script = script
        self.batches: list[list[JudgeRequest]] = []

    def complete_many(self, requests: list[JudgeRequest]) -> list[str]:
        self.batches.append(requests)
        out = []
        for request in requests:
            user = request.messages[1][1]
            qid = user.split("<<< User request begins >>>\n", 1)[1].split("\n", 1)[0].removeprefix("Q:")
            first = "a" if "<<< Answer A begins >>>\nfrom-a" in user else "b"
            out.append(self.script(qid, first, request))
        return out


QUESTIONS = [Question(id=f"q{i}", prompt=f"Q:q{i}", category="math" if i % 2 else "writing",
                      reference="42" if i % 2 else None) for i in range(6)]
ANSWERS_A = [Answer(q.id, "from-a " + "x" * 10) for q in QUESTIONS]
ANSWERS_B = [Answer(q.id, "from-b " + "y" * 30) for q in QUESTIONS]


def _is_retry(request: JudgeRequest) -> bool:
    return request.messages[-1][0] == "user" and len(request.messages) == 4


def _script(qid: str, first: str, request: JudgeRequest) -> str:
    """q0: both orders pick a (win). q1: both pick b (loss). q2: always the first position (tie).
    q3: tie in both. q4: no verdict, fixed by the retry (win). q5: never a verdict (unscored)."""
    pick_a, pick_b = ("[[A]]", "[[B]]") if first == "a" else ("[[B]]", "[[A]]")
    if qid == "q4" and not _is_retry(request):
        return "A is clearly better, as I said."
    return {"q0": f"A's model wins. {pick_a}", "q1": f"B's model wins. {pick_b}", "q2": "The first one. [[A]]",
            "q3": "Equal. [[C]]", "q4": pick_a, "q5": 'I refuse to say "[[A]]" or anything else.'}[qid]


@pytest.mark.parametrize(("ab", "ba", "outcome"), [
    (PairVerdict.A, PairVerdict.B, Outcome.WIN),
    (PairVerdict.B, PairVerdict.A, Outcome.LOSS),
    (PairVerdict.A, PairVerdict.A, Outcome.TIE),  # position bias: disagreement is a tie
    (PairVerdict.B, PairVerdict.B, Outcome.TIE),
    (PairVerdict.TIE, PairVerdict.TIE, Outcome.TIE),
    (PairVerdict.A, PairVerdict.TIE, Outcome.TIE),
    (PairVerdict.TIE, PairVerdict.A, Outcome.TIE),
    (PairVerdict.A, PairVerdict.UNSCORED, Outcome.UNSCORED),
    (PairVerdict.UNSCORED, PairVerdict.TIE, Outcome.UNSCORED),
    (PairVerdict.UNSCORED, PairVerdict.UNSCORED, Outcome.UNSCORED),
])
def test_swap_rule(ab: PairVerdict, ba: PairVerdict, outcome: Outcome) -> None:
    assert outcome_of(ab, ba) is outcome


def test_pairwise_swaps_positions_retries_once_and_counts_unscored() -> None:
    judge = ScriptedJudge(_script)
    judgments = judge_pairwise(QUESTIONS, ANSWERS_A, ANSWERS_B, judge=judge, model_a="ma", model_b="mb")
    assert [j.outcome for j in judgments] == [Outcome.WIN, Outcome.LOSS, Outcome.TIE, Outcome.TIE, Outcome.WIN,
                                              Outcome.UNSCORED]
    # Two batches: 12 first calls (each question in both orders), then only the 4 unreadable ones again.
    assert [len(b) for b in judge.batches] == [12, 4]
    assert all(_is_retry(r) for r in judge.batches[1])
    assert "[[A]], [[B]] or [[C]]" in judge.batches[1][0].messages[-1][1]
    first = judgments[0]
    assert (first.verdict_ab, first.verdict_ba) == (PairVerdict.A, PairVerdict.B)
    assert first.judge == "http://judge.test/v1#scripted" and first.prompt_version == PROMPT_VERSION
    assert first.mode == "pairwise" and first.category == "writing"
    assert "Reference answer" not in judge.batches[0][2].messages[1][1]
    retried = judgments[4]
    assert retried.raw_ab == "A is clearly better, as I said." and retried.extra["retry_ab"] == "[[A]]"
    unscored = judgments[5]
    assert unscored.verdict_ab is unscored.verdict_ba is PairVerdict.UNSCORED
    assert "retry_ab" in unscored.extra and "retry_ba" in unscored.extra

    summary = summarize(judgments, ANSWERS_A, ANSWERS_B, seed=1, bootstrap=200)
    assert (summary["wins"], summary["losses"], summary["ties"], summary["unscored"]) == (2, 1, 2, 1)
    assert summary["scored"] == 5 and summary["questions"] == 6
    assert summary["adjusted_win_rate"] == pytest.approx((2 + 0.5 * 2) / 5)  # unscored is not in N
    assert summary["mean_answer_length"] == {"ma": 17.0, "mb": 37.0}


def test_reference_mode_shows_references_only_where_there_is_one() -> None:
    judge = ScriptedJudge(lambda qid, first, request: "[[C]]")
    judgments = judge_pairwise(QUESTIONS, ANSWERS_A, ANSWERS_B, judge=judge, model_a="ma", model_b="mb",
                               mode="reference")
    assert [j.mode for j in judgments] == ["pairwise", "reference"] * 3
    shown = [("<<< Reference answer begins >>>\n42" in r.messages[1][1]) for r in judge.batches[0]]
    assert shown == [False, False, True, True] * 3
    assert len(judge.batches) == 1  # every verdict read: no retry batch


def test_missing_answers_are_one_clear_error_before_any_call() -> None:
    judge = ScriptedJudge(_script)
    with pytest.raises(UserError, match=r"no answer of mb to question\(s\) q5"):
        judge_pairwise(QUESTIONS, ANSWERS_A, ANSWERS_B[:5], judge=judge, model_a="ma", model_b="mb")
    assert judge.batches == []
    with pytest.raises(ValueError, match="pairwise mode"):
        judge_pairwise(QUESTIONS, ANSWERS_A, ANSWERS_B, judge=judge, model_a="ma", model_b="mb", mode="single")


def test_single_grading_with_retry_and_unscored() -> None:
    def script(qid: str, first: str, request: JudgeRequest) -> str:
        if _is_retry(request):
            return "[[4]]" if qid == "q1" else "no idea"
        return {"q0": "Good. Rating: [[8]]", "q1": "Decent."}.get(qid, "Hmm.")

    judge = ScriptedJudge(script)
    got = judge_single(QUESTIONS[:3], ANSWERS_A, judge=judge, model="ma", mode="single-reference")
    assert [j.rating for j in got] == [8.0, 4.0, None]
    assert [j.mode for j in got] == ["single", "single-reference", "single"]
    assert [len(b) for b in judge.batches] == [3, 2]
    assert "[[rating]]" in judge.batches[1][0].messages[-1][1]


def test_judgments_round_trip_through_the_store_and_a_rerun_replaces(tmp_path: Path) -> None:
    judgments = judge_pairwise(QUESTIONS, ANSWERS_A, ANSWERS_B, judge=ScriptedJudge(_script),
                               model_a="ma", model_b="mb")
    singles = judge_single(QUESTIONS[:2], ANSWERS_A, judge=ScriptedJudge(lambda *_: "[[5]]"), model="ma")
    with Store(tmp_path / "s.sqlite") as store:
        store.put_judgments([pair_record(j) for j in judgments] + [single_record(j) for j in singles])
        store.put_judgments([pair_record(j) for j in judgments])  # the rerun
        rows = store.get_judgments(model_a="ma", model_b="mb")
        assert len(rows) == 6 and len(store.get_judgments(mode="single")) == 2
        assert [pair_from_record(r) for r in rows] == judgments
        assert rows[5]["outcome"] == "unscored" and rows[5]["verdict_ab"] == "unscored"
        assert store.get_judgments(mode="single")[0]["rating"] == 5.0
        with pytest.raises(ValueError, match="unknown fields"):
            store.put_judgments([{**pair_record(judgments[0]), "score": 1}])
        with pytest.raises(ValueError, match="cannot filter"):
            store.get_judgments(score="1")
