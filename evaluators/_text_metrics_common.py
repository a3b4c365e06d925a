"""Shared settings and scoring for the two text-metric evaluators (a private helper module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from evalkit.evaluator import Aggregate, Evaluator, EvaluatorSettings, ItemScore


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


class TextMetricScoring:
    """Scores predictions against references in one batch and keeps the corpus-level values.

    Corpus BLEU/chrF are not means of per-item values, so :meth:`aggregate` returns what the
    batch computation found rather than re-deriving it from the items.
    """

    def __init__(self, settings: TextMetricSettings, seed: int, device: str):
        self.settings, self.seed, self.device = settings, seed, device
        self.corpus: dict[str, tuple[float, float | None]] = {}

    def score(self, predictions: list[str], references: list[list[str]]) -> list[list[ItemScore]]:
        from evalkit.metrics.text import score_text_metrics

        result = score_text_metrics(predictions, references, self.settings.metrics,
                                    bertscore_model=self.settings.bertscore_model,
                                    bertscore_num_layers=self.settings.bertscore_num_layers,
                                    seed=self.seed, device=self.device)
        self.corpus = dict(result.aggregate)
        return [[ItemScore("none", [pred], {m: values[i] for m, values in result.per_item.items()})]
                for i, pred in enumerate(predictions)]

    def aggregate(self, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        return {m: Aggregate(v, se, len(scores)) for m, (v, se) in self.corpus.items()}


class TextMetricsEvaluator(Evaluator):
    """Base of the evaluators that score texts against references (not registered itself)."""

    higher_is_better: ClassVar[dict[str, bool]] = {
        m: True for m in ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_precision",
                          "bertscore_recall", "bertscore_f1")}
    settings: TextMetricSettings

    def predictions(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[str]:
        raise NotImplementedError

    def _scoring(self) -> TextMetricScoring:
        if not hasattr(self, "_text_scoring"):
            self._text_scoring = TextMetricScoring(self.settings, self.ctx.seed, self.ctx.device)
        return self._text_scoring

    def target(self, doc: dict[str, Any]) -> Any:
        return references_of(doc, self.settings.references_field)

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        return self._scoring().score(self.predictions(docs, responses), [self.target(d) for d in docs])

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        return self._scoring().aggregate(scores)
