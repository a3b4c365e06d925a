"""Few-shot prompts as lm-evaluation-harness 0.4.13 builds them, as plain text or through a chat template
(a private helper shared by the mmlu, hellaswag and gsm8k evaluators).

lm-eval builds every prompt as a list of messages (``api/task.py`` ``fewshot_context`` and
``build_qa_turn``; ``api/utils.py`` ``Message``), each with a delimiter that only plain text uses:

- ``system``: the task description, after ``--system_instruction`` if one is given; no delimiter;
- each shot: ``user`` (question, delimiter = target delimiter) then ``assistant`` (answer,
  delimiter = few-shot delimiter);
- the document: ``user`` (question, no delimiter).

As plain text the messages are concatenated, ``content + delimiter`` each. With a chat template,
multi-turn sends the messages as they are (no delimiters), and single-turn keeps the system
message and folds everything else into one user message rendered as plain text
(``multiturn_to_singleturn``). Neither task here has a ``gen_prefix``, so the template always
adds the generation prompt, and a multiple-choice continuation loses its target delimiter
(``construct_requests``: ``" A"`` becomes ``"A"``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from evalkit.data import DatasetSpec
from evalkit.errors import UserError
from evalkit.evaluator import EvaluatorSettings, TaskContext
from evalkit.models.chat import require_formatter

TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"


class FewshotSettings(EvaluatorSettings):
    """Settings every few-shot evaluator has; each evaluator sets its own ``num_fewshot`` default."""

    num_fewshot: int = Field(0, ge=0, description="number of solved examples before each question")
    apply_chat_template: bool = Field(False, description="render prompts with the model's chat template "
                                                         "(lm-eval's --apply_chat_template)")
    fewshot_as_multiturn: bool | None = Field(
        None, description="with apply_chat_template: shots as user/assistant turns (the default, as lm-eval's "
                          "CLI) or, when false, folded into one user turn")
    system_instruction: str | None = Field(None, description="system text before the task description "
                                                             "(lm-eval's --system_instruction)")

    @model_validator(mode="after")
    def _multiturn_needs_chat(self) -> FewshotSettings:
        # lm-eval refuses the same combination (config/evaluate_config.py).
        if self.fewshot_as_multiturn and not self.apply_chat_template:
            raise ValueError("fewshot_as_multiturn: true needs apply_chat_template: true")
        return self

    @property
    def multiturn(self) -> bool:
        """lm-eval's CLI turns fewshot_as_multiturn on whenever a chat template is applied, unless told not to."""
        return self.apply_chat_template if self.fewshot_as_multiturn is None else self.fewshot_as_multiturn


@dataclass
class Message:
    """lm-eval's ``Message``: ``delimiter`` is appended only when rendering as plain text."""

    role: str
    content: str
    delimiter: str = ""

    def to_text(self) -> str:
        return self.content + self.delimiter

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str) -> str:
    """lm-eval's ``maybe_delimit``: join, adding ``delimiter`` only if neither side has whitespace there."""
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix
    return prefix + suffix if prefix[-1].isspace() or suffix[0].isspace() else prefix + delimiter + suffix


def build_messages(description: str, shots: Sequence[tuple[str, str]], question: str,
                   system_instruction: str | None = None) -> list[Message]:
    """The messages of one prompt: system (if any), then each (question, answer) shot, then ``question``."""
    messages = []
    system = maybe_delimit(system_instruction, description, FEWSHOT_DELIMITER)
    if system:
        messages.append(Message("system", system))
    for shot_question, shot_answer in shots:
        messages.append(Message("user", shot_question, TARGET_DELIMITER))
        messages.append(Message("assistant", shot_answer, FEWSHOT_DELIMITER))
    messages.append(Message("user", question))
    return messages


def multiturn_to_singleturn(messages: list[Message]) -> list[dict[str, str]]:
    """lm-eval's ``multiturn_to_singleturn`` for a prompt ending in a user turn (no gen_prefix)."""
    system, rest = (messages[0], messages[1:]) if messages[0].role == "system" else (None, messages)
    user = Message("user", "".join(m.to_text() for m in rest[:-1]) + rest[-1].content)
    return ([system.to_dict()] if system else []) + [user.to_dict()]


class PromptBuilder:
    """Renders prompts for one task under its settings, as text or through the model's chat template."""

    def __init__(self, settings: FewshotSettings, ctx: TaskContext):
        self.settings = settings
        self.ctx = ctx

    @property
    def continuation_delimiter(self) -> str:
        """What goes before a multiple-choice continuation: lm-eval drops it under a chat template,
        since the template's generation prompt already ends the context."""
        return "" if self.settings.apply_chat_template else TARGET_DELIMITER

    def context(self, description: str, shots: Sequence[tuple[str, str]], question: str) -> str:
        messages = build_messages(description, shots, question, self.settings.system_instruction)
        if not self.settings.apply_chat_template:
            return "".join(m.to_text() for m in messages)
        format_chat = require_formatter(self.ctx.format_chat, self.ctx.task_name)
        chat = [m.to_dict() for m in messages] if self.settings.multiturn else multiturn_to_singleturn(messages)
        return format_chat(chat)


def load_split(dataset: DatasetSpec, split: str, ctx: TaskContext) -> list[dict[str, Any]]:
    """The documents of another split of the task's data set (the one shots come from)."""
    from evalkit.data import load_records

    try:
        return load_records(dataset.model_copy(update={"split": split}), ctx.base_dir, ctx.data_root)
    except ValueError as exc:  # datasets' "Unknown split" for local files without that split
        raise UserError(f"dataset {dataset.path!r}: no {split!r} split ({exc})") from None


class FirstNSampler:
    """lm-eval's ``first_n`` sampler: the first ``k`` examples of the pool, in order (MMLU's dev split),
    leaving out the evaluated document when the shots come from the evaluated split."""

    def __init__(self, pool: Sequence[dict[str, Any]], k: int, exclude_eval_doc: bool = False):
        self.pool, self.k, self.exclude_eval_doc = pool, k, exclude_eval_doc

    def shots(self, doc_id: int, doc: dict[str, Any]) -> list[dict[str, Any]]:
        pool = [x for x in self.pool if x != doc] if self.exclude_eval_doc else list(self.pool)
        if self.k > len(pool):
            raise UserError(f"num_fewshot {self.k}: only {len(pool)} examples are available")
        return pool[: self.k]


class RandomSampler:
    """lm-eval's default sampler: one ``random.Random(seed)`` per task, and for each document, in
    data set order, ``rnd.sample(pool, k)``.

    When the shots come from the evaluated split itself (lm-eval: the few-shot split equals the
    test split, which includes hellaswag's "both unset"), lm-eval draws ``k + 1`` and drops the
    document being evaluated, so the draws differ from plain ``sample(pool, k)``; ``exclude_eval_doc``
    mirrors that. Draws are memoised by ``doc_id`` and replayed in order, so the shots of a document
    do not depend on the order in which requests are built. (One exception: when a draw holds
    copies of the document, lm-eval redraws from the generator at that point; asked out of order,
    that redraw comes later than lm-eval's.)
    """

    def __init__(self, pool: Sequence[dict[str, Any]], k: int, seed: int, exclude_eval_doc: bool = False):
        extra = 1 if exclude_eval_doc else 0
        if k + extra > len(pool):
            raise UserError(f"num_fewshot {k}: only {len(pool)} examples are available")
        self.pool, self.k, self.exclude_eval_doc = list(pool), k, exclude_eval_doc
        self._rnd = random.Random(seed)
        self._draws: list[list[dict[str, Any]]] = []  # raw draws, by doc_id
        self._shots: dict[int, list[dict[str, Any]]] = {}

    def _draw(self) -> list[dict[str, Any]]:
        if self.k == 0:
            return []  # lm-eval returns before touching the generator
        return self._rnd.sample(self.pool, self.k + (1 if self.exclude_eval_doc else 0))

    def shots(self, doc_id: int, doc: dict[str, Any]) -> list[dict[str, Any]]:
        if doc_id not in self._shots:
            while len(self._draws) <= doc_id:  # documents not asked about yet still advance the generator
                self._draws.append(self._draw())
            picked = self._draws[doc_id]
            if self.exclude_eval_doc:
                picked = [x for x in picked if x != doc][: self.k]
                if len(picked) < self.k:  # the draw held copies of the document: lm-eval redraws without them
                    picked = self._rnd.sample([x for x in self.pool if x != doc], self.k)
            self._shots[doc_id] = picked
        return self._shots[doc_id]
