"""GSM8K: grade-school maths word problems, answered by generation and matched as lm-eval's gsm8k task.

Cobbe et al.'s benchmark as lm-evaluation-harness 0.4.13 scores it (``tasks/gsm8k/gsm8k.yaml``).

Prompt: ``num_fewshot`` (default 5) solved problems from the train split, each
``"Question: {question}\nAnswer: {answer}"``, joined by blank lines, then
``"Question: {question}\nAnswer:"``. The shots of each document are ``rnd.sample(train, k)`` with
one ``random.Random(seed)`` per task, drawn in document order: lm-eval's default sampler with its
default ``fewshot_random_seed`` 1234 (here the suite's ``seed``). The model generates (greedy by
default) until ``Question:``, ``</s>``, ``<|im_end|>`` or its EOS, at most ``max_gen_toks`` tokens
(256, lm-eval's default).

Two filters pick the answer out of the text: ``strict-match`` (the number after ``#### ``) and
``flexible-extract`` (the last number-like span); ``"[invalid]"`` when there is none. Metric
``exact_match`` against the full reference answer, both sides lower-cased after removing ``,``,
``$``, everything up to ``#### `` and a final ``.``.

Data: the hub's ``openai/gsm8k`` (config ``main``), or a folder with ``train`` and ``test``
files (``.jsonl``, fields ``question`` and ``answer``), e.g. the ``--data-root`` mirror ``DIR/gsm8k``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from evalkit.data import DatasetSpec, load_records
from evalkit.engine.requests import GenerateUntil, Request, Sampling
from evalkit.evaluator import Evaluator, TaskContext, register_evaluator
from evalkit.evaluators._fewshot import FewshotSettings, PromptBuilder, RandomSampler, load_split
from evalkit.scores import ItemScore

#: (filter name, regex, group_select), in lm-eval's order.
FILTERS = (
    ("strict-match", r"#### (\-?[0-9\.\,]+)", 0),
    ("flexible-extract", r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1),
)
FALLBACK = "[invalid]"
REGEXES_TO_IGNORE = (",", "\\$", "(?s).*#### ", "\\.$")


class GSM8KSettings(FewshotSettings):
    num_fewshot: int = Field(5, ge=0, description="solved train problems before each question (5 as lm-eval)")
    fewshot_split: str = Field("train", description="split the shots are drawn from")
    until: list[str] = Field(["Question:", "</s>", "<|im_end|>"], description="stop strings (EOS always stops)")


def question_text(doc: dict[str, Any]) -> str:
    return f"Question: {doc['question']}\nAnswer:"


def regex_extract(text: str, pattern: str, group_select: int) -> str:
    """lm-eval's ``regex`` filter on one response."""
    matches = re.findall(pattern, text)
    if not matches:
        return FALLBACK
    match = matches[group_select]
    if isinstance(match, tuple):  # several groups: the first that matched
        match = next((m for m in match if m), FALLBACK)
    return match.strip()


def normalize(text: str) -> str:
    """exact_match's normalisation with gsm8k's options (ignore_case, regexes_to_ignore)."""
    for pattern in REGEXES_TO_IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower()


@register_evaluator("gsm8k")
class GSM8K(Evaluator):
    Settings = GSM8KSettings
    request_kinds = frozenset({"generate_until"})
    default_dataset = DatasetSpec(path="openai/gsm8k", name="main", split="test")
    higher_is_better: ClassVar[dict[str, bool]] = {"exact_match": True}
    settings: GSM8KSettings

    def __init__(self, settings: GSM8KSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        self.prompts = PromptBuilder(settings, ctx)
        self._sampler: RandomSampler | None = None  # built on first use from settings and ctx alone

    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        return load_records(dataset, self.ctx.base_dir, self.ctx.data_root)

    def _shots(self, doc: dict[str, Any], doc_id: int) -> list[tuple[str, str]]:
        if self.settings.num_fewshot == 0:
            return []
        if self._sampler is None:
            dataset = self.task_dataset()
            split = self.settings.fewshot_split
            pool = load_split(dataset, split, self.ctx)
            # lm-eval excludes the evaluated document only when shots come from the evaluated split.
            self._sampler = RandomSampler(pool, self.settings.num_fewshot, self.ctx.seed,
                                          exclude_eval_doc=split == (dataset.split or "test"))
        return [(question_text(s), s["answer"]) for s in self._sampler.shots(doc_id, doc)]

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        gen = self.ctx.generation
        context = self.prompts.context("", self._shots(doc, doc_id), question_text(doc))
        sampling = Sampling.from_generation(gen, self.ctx.seed)
        return [GenerateUntil(context, tuple(self.settings.until), gen.max_gen_toks, sampling)]

    def target(self, doc: dict[str, Any]) -> Any:
        return doc["answer"]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        text = responses[0] if isinstance(responses[0], str) else ""
        gold = normalize(doc["answer"])
        out = []
        for name, pattern, group_select in FILTERS:
            answer = regex_extract(text, pattern, group_select)
            out.append(ItemScore(name, [answer], {"exact_match": 1.0 if normalize(answer) == gold else 0.0}))
        return out
