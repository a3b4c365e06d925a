"""BLEU, chrF, ROUGE and BERTScore over a file of predictions and references (no model).

Data: one row per item with a prediction column and a references column (a string or a list).
Scores are those of ``generation_metrics``, computed by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from evalkit.engine.requests import Request
from evalkit.evaluator import register_evaluator
from evalkit.evaluators._text_metrics_common import TextMetricSettings, TextMetricsEvaluator


class ReferenceMetricsSettings(TextMetricSettings):
    prediction_field: str = Field("prediction", description="column with the text to score")


@register_evaluator("reference_metrics")
class ReferenceMetrics(TextMetricsEvaluator):
    Settings = ReferenceMetricsSettings
    request_kinds: ClassVar[frozenset[str]] = frozenset()  # needs no model
    settings: ReferenceMetricsSettings

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        return []

    def predictions(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[str]:
        return [str(d[self.settings.prediction_field]) for d in docs]
