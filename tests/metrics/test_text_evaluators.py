"""The text-metric evaluators aggregate from the scores they are given (no state kept from ``score``)."""

from __future__ import annotations

from pathlib import Path

from evalkit.evaluator import TaskContext, evaluator_registry
from evalkit.metrics.text import score_text_metrics
from evalkit.suites.schema import GenerationSettings

DOCS = [{"prediction": "The cat sat on the mat.", "references": ["A cat sat on the mat.", "The cat sat."]},
        {"prediction": "Blue sky today", "references": ["The sky is blue today."]},
        {"prediction": "", "references": ["Nothing at all."]},
        {"prediction": "a b c d", "references": "a b c e"}]


def test_aggregate_uses_only_its_scores_and_matches_the_batch_computation() -> None:
    cls = evaluator_registry().get("reference_metrics")
    ctx = TaskContext("t", 7, GenerationSettings(), Path("."))
    evaluator = cls(cls.Settings(metrics=["bleu", "chrf", "rouge"]), ctx)
    first = [s[0] for s in evaluator.score_all(DOCS[:3], [[]] * 3)]
    evaluator.score_all(DOCS[3:], [[]])  # a later call must not leak into the first batch's aggregate
    got = {m: (a.value, a.stderr, a.n) for m, a in evaluator.aggregate("none", first).items()}
    expected = score_text_metrics([d["prediction"] for d in DOCS[:3]], [d["references"] for d in DOCS[:3]],
                                  ["bleu", "chrf", "rouge"], seed=7).aggregate
    assert got == {m: (v, se, 3) for m, (v, se) in expected.items()}
    assert first[0].details == {"references": DOCS[0]["references"]}
    assert "references" not in first[0].metrics
