"""A model's answers to a prompt set, scored by a reward model: "prompt + generation → a number".

Data: one row per prompt, a ``prompt`` column holding text or a list of ``{role, content}`` messages (an
optional ``system`` text becomes the system turn). The model under evaluation answers each prompt
through the engine (one :class:`~evalkit.engine.requests.GenerateUntil`, decoded with the task's
generation settings: greedy by default), with its chat template (``apply_chat_template``, the default;
conversational prompts need it) or as a raw text continuation. The reward model named in
``reward_model`` (a sequence-classification checkpoint or SEQ_CLS adapter) then scores each (prompt,
answer), one :class:`~evalkit.engine.requests.Score` request each, through the store cache under its own
fingerprint: as messages (the prompt's turns, the answer as the assistant's) under a chat template, else as
text (prompt + answer, EOS appended), as its training read such data.

Metric: ``reward``, the mean of the answers' rewards with the standard error of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from evalkit.data import DatasetSpec
from evalkit.engine.requests import GenerateUntil, Request, Sampling, Score
from evalkit.engine.reward import require_reward_template
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, EvaluatorSettings, TaskContext, register_evaluator
from evalkit.evaluators._preference import as_turns, jsonable, read_turns
from evalkit.models.chat import require_formatter
from evalkit.scores import ItemScore


class RewardScoreSettings(EvaluatorSettings):
    reward_model: str = Field(min_length=1, description="the reward model scoring the answers (any --model form "
                              "of a sequence-classification checkpoint or SEQ_CLS adapter)")
    prompt_field: str = Field("prompt", description="column with the prompt: text or a list of messages")
    system_field: str = Field("system", description="column with an optional system turn")
    apply_chat_template: bool = Field(True, description="the model answers under its chat template (else it "
                                      "continues the prompt's text)")
    until: list[str] = Field([], description="stop strings (EOS always stops)")


class _Resolved(RewardScoreSettings):
    """The settings with the reward model's fingerprint: part of the score cache's key, so that a reward
    model retrained at the same path is not read from an old score."""

    reward_model_fingerprint: str


@register_evaluator("reward_score")
class RewardScore(Evaluator):
    Settings = RewardScoreSettings
    request_kinds = frozenset({"generate_until"})
    higher_is_better: ClassVar[dict[str, bool]] = {"reward": True}
    settings: RewardScoreSettings

    def __init__(self, settings: EvaluatorSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        from evalkit.models.resolve import resolve_model

        if ctx.other_models is None:
            raise UserError(f"task {ctx.task_name}: reward_score needs the run's store (run it with evalkit run)")
        self.others = ctx.other_models
        self.reward_model = resolve_model(self.settings.reward_model)
        self.others.require(self.reward_model, frozenset({"score"}), f"task {ctx.task_name}: reward_model")
        if self.settings.apply_chat_template:
            require_reward_template(self.reward_model, f"task {ctx.task_name}: reward_model")
        self.settings = _Resolved(**self.settings.model_dump(), reward_model_fingerprint=self.reward_model.fingerprint)

    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        s = self.settings
        source = dataset.path if dataset.data_files is None else f"{dataset.path} {dataset.data_files}"
        rows = super().load_docs(dataset)
        conversational = s.apply_chat_template or any(isinstance(r.get(s.prompt_field), list) for r in rows)
        if conversational and not s.apply_chat_template:
            raise UserError(f"task {self.ctx.task_name}: the prompts are message lists: set apply_chat_template")
        docs = []
        for n, row in enumerate(rows, start=1):
            where = f"{source} row {n}"
            if s.prompt_field not in row:
                raise UserError(f"{where}: no column {s.prompt_field!r} (the row has: {', '.join(row) or 'nothing'})")
            turns = read_turns(row[s.prompt_field], where, s.prompt_field, conversational, "user")
            system = row.get(s.system_field)
            if system is not None:
                if not isinstance(turns, tuple) or not isinstance(system, str):
                    raise UserError(f"{where}: column {s.system_field!r}: a system turn needs apply_chat_template "
                                    "and text")
                turns = (("system", system), *turns)
            docs.append({**row, "prompt": jsonable(turns)})
        return docs

    def _prompt_text(self, turns: Any) -> str:
        if isinstance(turns, str):
            return turns
        format_chat = require_formatter(self.ctx.format_chat, self.ctx.task_name)
        return format_chat([{"role": r, "content": c} for r, c in turns])

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        gen = self.ctx.generation
        return [GenerateUntil(self._prompt_text(as_turns(doc["prompt"])), tuple(self.settings.until),
                              gen.max_gen_toks, Sampling.from_generation(gen, self.ctx.seed))]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        # Under a chat template an answer is a turn of its own; a text continuation keeps its leading space.
        answers = [str(r[0]).strip() if self.settings.apply_chat_template else str(r[0]) for r in responses]
        requests = [self._score_request(as_turns(doc["prompt"]), answer) for doc, answer in zip(docs, answers)]
        rewards, _ = self.others.answers(self.reward_model, requests, f"task {self.ctx.task_name}: reward model")
        return [[ItemScore("none", [answer], {"reward": float(reward)}, {"reward_model": self.reward_model.spec})]
                for answer, reward in zip(answers, rewards)]

    @staticmethod
    def _score_request(prompt: Any, answer: str) -> Score:
        if isinstance(prompt, str):
            return Score(prompt, answer)
        return Score(prompt, (("assistant", answer),))
