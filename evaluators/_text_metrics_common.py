"""Shared settings and scoring for the two text-metric evaluators (a private helper module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from evalkit.evaluator import Evaluator, EvaluatorSettings
from evalkit.scores import Aggregate, ItemScore


class TextMetricSettings(EvaluatorSettings):
    references_field: str = Field("references", description="column with the reference text or list of texts")
    metrics: list[str] = Field(["bleu", "chrf", "rouge", "bertscore"],
                               description="bleu, chrf, rouge (1/2/L/Lsum), bertscore (P/R/F1), or single keys")
    bertscore_model: str | None = Field(None, description="encoder for BERTScore (default: bundled MiniLM)")
    bertscore_num_layers: int | None = Field(None, ge=1, description="encoder layer (default: the last)")

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from evalkit.metrics.text import expand_metric_names

        expand_metric_names(value)  # raises ValueError naming the known metrics
        return value


def references_of(doc: dict[str, Any], field: str) -> list[str]:
    refs = doc[field]
    return [refs] if isinstance(refs, str) else [str(r) for r in refs]


class TextMetricsEvaluator(Evaluator):
    """Base of the evaluators that score texts against references (not registered itself)."""

    higher_is_better: ClassVar[dict[str, bool]] = {
        m: True for m in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_precision",
                          "bertscore_recall", "bertscore_f1")}
    settings: TextMetricSettings

    def predictions(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[str]:
        raise NotImplementedError

    def target(self, doc: dict[str, Any]) -> Any:
        return references_of(doc, self.settings.references_field)

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        """Per-item scores of all documents in one batch (one encoder pass for BERTScore).

        Each item keeps its references in ``details``: corpus BLEU/chrF are not means of per-item
        values, so :meth:`aggregate` recomputes them from the items' predictions and references.
        """
        from evalkit.metrics.text import score_text_metrics

        predictions = self.predictions(docs, responses)
        references = [self.target(d) for d in docs]
        s = self.settings
        result = score_text_metrics(predictions, references, s.metrics, bertscore_model=s.bertscore_model,
                                    bertscore_num_layers=s.bertscore_num_layers, seed=self.ctx.seed,
                                    device=self.ctx.device)
        return [[ItemScore("none", [pred], {m: values[i] for m, values in result.per_item.items()},
                           {"references": refs})]
                for i, (pred, refs) in enumerate(zip(predictions, references))]

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        """Corpus BLEU/chrF (bootstrap stderr) and mean ± stderr of the rest, from ``scores`` alone."""
        from evalkit.metrics.text import aggregate_text_metrics

        if not scores:
            return {}
        per_item = {m: [float(s.metrics[m]) for s in scores] for m in scores[0].metrics}
        corpus = aggregate_text_metrics([s.filtered_resps[0] for s in scores],
                                        [s.details["references"] for s in scores], per_item, seed=self.ctx.seed)
        return {m: Aggregate(v, se, len(scores)) for m, (v, se) in corpus.items()}
