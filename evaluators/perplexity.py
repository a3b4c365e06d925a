"""Perplexity of a model over a text data set, with lm-evaluation-harness's definitions.

Each document's text is scored whole with rolling windows (``loglikelihood_rolling``), then:
word_perplexity = exp(-Σ logp / Σ words), byte_perplexity = exp(-Σ logp / Σ UTF-8 bytes),
bits_per_byte = -Σ logp / Σ bytes / ln 2, token_perplexity = exp(-Σ logp / Σ tokens).
Words are counted as lm-eval's wikitext task does: ``len(re.split(r"\\s+", text))``.
These are corpus-level ratios, so they have no per-item standard error (reported as None).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from evalkit.engine.requests import LoglikelihoodRolling, Request
from evalkit.evaluator import Evaluator, EvaluatorSettings, register_evaluator
from evalkit.scores import Aggregate, ItemScore


class PerplexitySettings(EvaluatorSettings):
    text_field: str = Field("text", description="column holding the text to score")


@register_evaluator("perplexity")
class Perplexity(Evaluator):
    Settings = PerplexitySettings
    request_kinds = frozenset({"loglikelihood_rolling"})
    higher_is_better: ClassVar[dict[str, bool]] = {
        m: False for m in ("word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity")}
    settings: PerplexitySettings

    def _text(self, doc: dict[str, Any]) -> str:
        return str(doc[self.settings.text_field])

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        return [LoglikelihoodRolling(self._text(doc))]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        logprob, n_tokens = responses[0]
        text = self._text(doc)
        words = len(re.split(r"\s+", text))
        n_bytes = len(text.encode("utf-8"))
        # Per item we keep (log-prob, weight): the task value is a ratio of sums, not a mean.
        metrics = {"word_perplexity": [logprob, words], "byte_perplexity": [logprob, n_bytes],
                   "bits_per_byte": [logprob, n_bytes], "token_perplexity": [logprob, n_tokens]}
        return [ItemScore("none", [logprob], metrics)]

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        out = {}
        for metric in self.higher_is_better:
            logprob = sum(s.metrics[metric][0] for s in scores)
            weight = sum(s.metrics[metric][1] for s in scores)
            value = -logprob / weight / math.log(2) if metric == "bits_per_byte" else math.exp(-logprob / weight)
            out[metric] = Aggregate(value, None, len(scores))
        return out
