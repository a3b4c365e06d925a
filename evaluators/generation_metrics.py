"""The model answers each prompt; answers are scored against references with BLEU, chrF
(sacrebleu), ROUGE-1/2/L/Lsum (rouge-score) and BERTScore (bert-score).

Data: one row per item with a prompt column and a references column (a string or a list).
BLEU/chrF are corpus-level (0–100, bootstrap stderr); ROUGE/BERTScore are means (0–1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from evalkit.engine.requests import GenerateUntil, Request, Sampling
from evalkit.evaluator import register_evaluator
from evalkit.evaluators._text_metrics_common import TextMetricSettings, TextMetricsEvaluator
from evalkit.models.chat import require_formatter


class GenerationMetricsSettings(TextMetricSettings):
    prompt_field: str = Field("prompt", description="column with the prompt")
    until: list[str] = Field(["\n\n"], description="stop strings (EOS always stops)")
    apply_chat_template: bool = Field(False, description="wrap the prompt as a user turn of the chat template")
    system_prompt: str | None = Field(None, description="system turn, with apply_chat_template")


@register_evaluator("generation_metrics")
class GenerationMetrics(TextMetricsEvaluator):
    Settings = GenerationMetricsSettings
    request_kinds = frozenset({"generate_until"})
    settings: GenerationMetricsSettings

    def prompt(self, doc: dict[str, Any]) -> str:
        text = str(doc[self.settings.prompt_field])
        if not self.settings.apply_chat_template:
            return text
        format_chat = require_formatter(self.ctx.format_chat, self.ctx.task_name)
        messages = [{"role": "system", "content": self.settings.system_prompt}] if self.settings.system_prompt else []
        return format_chat(messages + [{"role": "user", "content": text}])

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        gen = self.ctx.generation
        sampling = Sampling.from_generation(gen, self.ctx.seed)
        return [GenerateUntil(self.prompt(doc), tuple(self.settings.until), gen.max_gen_toks, sampling)]

    def predictions(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[str]:
        return [str(r[0]).strip() for r in responses]
