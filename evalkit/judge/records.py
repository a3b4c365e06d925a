"""Judgments as flat records: the store's judgments table rows and the lines of ``judgments.jsonl``."""

from __future__ import annotations

from typing import Any

from evalkit.judge.interfaces import Outcome, PairJudgment, PairVerdict
from evalkit.judge.protocol import SingleJudgment


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
