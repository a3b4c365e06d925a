"""Judgments as flat records: the store's judgments table rows and the lines of ``judgments.jsonl``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from evalkit.judge.interfaces import Outcome, PairJudgment, PairVerdict
from evalkit.judge.protocol import SingleJudgment

if TYPE_CHECKING:
    from evalkit.judge.agreement import HumanVote, JudgedPair

#: A pairwise outcome for model_a as a vote's winner (unscored judgments are no verdict).
_OUTCOME_WINNER = {"win": "model_a", "loss": "model_b", "tie": "tie"}


def pair_record(j: PairJudgment) -> dict[str, Any]:
    """``j`` as a judgments-table record (verdicts and outcome as their text values)."""
    return {"question_id": j.question_id, "category": j.category, "model_a": j.model_a, "model_b": j.model_b,
            "judge": j.judge, "prompt_version": j.prompt_version, "mode": j.mode,
            "verdict_ab": j.verdict_ab.value, "verdict_ba": j.verdict_ba.value, "raw_ab": j.raw_ab,
            "raw_ba": j.raw_ba, "outcome": j.outcome.value, "rating": None, "extra": dict(j.extra)}


def pair_from_record(record: dict[str, Any]) -> PairJudgment:
    """The :class:`PairJudgment` a pairwise record (from the store or judgments.jsonl) holds."""
    return PairJudgment(
        question_id=record["question_id"], model_a=record["model_a"], model_b=record["model_b"],
        judge=record["judge"], prompt_version=record["prompt_version"], mode=record["mode"],
        verdict_ab=PairVerdict(record["verdict_ab"]), verdict_ba=PairVerdict(record["verdict_ba"]),
        raw_ab=record["raw_ab"], raw_ba=record["raw_ba"], outcome=Outcome(record["outcome"]),
        extra=dict(record.get("extra") or {}), category=record.get("category"))


def single_record(j: SingleJudgment) -> dict[str, Any]:
    """``j`` as a judgments-table record: no opponent (``model_b`` empty), outcome ``rated``/``unscored``."""
    return {"question_id": j.question_id, "category": j.category, "model_a": j.model, "model_b": "",
            "judge": j.judge, "prompt_version": j.prompt_version, "mode": j.mode,
            "verdict_ab": "unscored" if j.rating is None else f"{j.rating:g}", "verdict_ba": "",
            "raw_ab": j.raw, "raw_ba": "", "outcome": "unscored" if j.rating is None else "rated",
            "rating": j.rating, "extra": dict(j.extra)}


def judged_from_records(records: Iterable[dict[str, Any]]) -> list[JudgedPair]:
    """Pairwise judgment records (the store's rows, judgments.jsonl) as the agreement statistics' input;
    single-answer and unscored ones are left out."""
    from evalkit.judge.agreement import JudgedPair

    out = []
    for r in records:
        winner = _OUTCOME_WINNER.get(r["outcome"])
        if winner is None or not r.get("model_b"):
            continue
        ab, ba = r.get("verdict_ab"), r.get("verdict_ba")
        out.append(JudgedPair(r["question_id"], r["model_a"], r["model_b"], winner,
                              ab if ab in ("A", "B", "C") else None, ba if ba in ("A", "B", "C") else None))
    return out


def judged_from_votes(votes: Sequence[HumanVote]) -> list[JudgedPair]:
    """A reference judge's verdicts given as votes (one order each, so no position statistics)."""
    from evalkit.judge.agreement import JudgedPair

    return [JudgedPair(v.question_id, v.model_a, v.model_b, "tie" if v.winner.startswith("tie") else v.winner)
            for v in votes]
