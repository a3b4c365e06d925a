"""The two contestants' answers: generated through evalkit's engine, or read from a file.

Each model answers every question through :func:`evalkit.engine.dispatch.run_requests`, so every
answer is cached in the store under the model's fingerprint like any other request: a rerun
generates nothing, a killed run resumes. Decoding is greedy by default.

Prompt format:

- a model with a chat template gets the question as one user turn, rendered with its template
  (:mod:`evalkit.models.chat`); a second turn is ``[user, assistant (its first answer), user]``;
- a model without one (a base model) gets the plain format below, with a warning, and stops at
  the next ``"\\n\\nQuestion:"``::

      Question: <prompt>

      Answer: <first answer>

      Question: <second turn>

      Answer:

Answers files (``--answers-a/--answers-b``, and the ``answers_a.jsonl``/``answers_b.jsonl`` evalkit
writes) are JSONL, one object per line: ``question_id``, ``answer`` and, for questions with a
second turn, ``second_answer``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.engine.requests import GenerateUntil, Sampling
from evalkit.errors import UserError
from evalkit.judge.interfaces import Answer, Question

if TYPE_CHECKING:
    from evalkit.engine.backend import Backend
    from evalkit.engine.dispatch import RunStats
    from evalkit.models.chat import ChatFormatter
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store

PLAIN_TURN = "Question: {prompt}\n\nAnswer:"
PLAIN_STOP = "\n\nQuestion:"
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


@dataclass(frozen=True)
class AnswerSettings:
    """How contestants answer: the engine's generation settings (greedy unless temperature > 0)."""

    max_gen_toks: int = 512
    sampling: Sampling = field(default_factory=Sampling)
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int | str = 8


def has_chat_template(ref: ModelRef) -> bool:
    """Whether the model renders chat itself: an endpoint does; a checkpoint if its tokenizer ships a template."""
    if ref.kind == "openai":
        return True
    folder = ref.tokenizer_path
    if any((folder / name).is_file() for name in TEMPLATE_FILES):
        return True
    config = folder / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("chat_template"))


def plain_prompt(turns: Sequence[tuple[str, str | None]]) -> str:
    """The base-model format (module docstring): ``turns`` are (question, answer or None for the last)."""
    parts = []
    for prompt, answer in turns:
        parts.append(PLAIN_TURN.format(prompt=prompt) + ("" if answer is None else " " + answer.strip()))
    return "\n\n".join(parts)


def generate_answers(questions: Sequence[Question], ref: ModelRef, *, store: Store, settings: AnswerSettings,
                     progress: bool = True) -> tuple[list[Answer], RunStats]:
    """Every question answered by ``ref`` through the engine (cached in ``store``), in order."""
    from evalkit.engine.backend import backend_class
    from evalkit.engine.dispatch import RunStats

    chat = has_chat_template(ref)
    format_chat: ChatFormatter | None = backend_class(ref).chat_formatter(ref) if chat else None
    if not chat:
        print(f"warning: model {ref.name} has no chat template (a base model?): it answers from the plain "
              f"format {PLAIN_TURN!r}", file=sys.stderr)
    until: tuple[str, ...] = () if chat else (PLAIN_STOP,)

    def request(context: str) -> GenerateUntil:
        return GenerateUntil(context, until, settings.max_gen_toks, settings.sampling)

    first_prompts = [_first_prompt(q, format_chat) for q in questions]
    firsts, stats = _run(ref, [request(p) for p in first_prompts], store, settings, progress)
    second_idx = [i for i, q in enumerate(questions) if q.second_turn]
    seconds: dict[int, str] = {}
    if second_idx:
        prompts = [_second_prompt(questions[i], firsts[i], format_chat) for i in second_idx]
        texts, more = _run(ref, [request(p) for p in prompts], store, settings, progress)
        seconds = dict(zip(second_idx, texts))
        stats = RunStats(stats.total + more.total, stats.cached + more.cached, stats.computed + more.computed)
    answers = [Answer(q.id, firsts[i].strip(), seconds[i].strip() if i in seconds else None)
               for i, q in enumerate(questions)]
    return answers, stats


def _first_prompt(q: Question, format_chat: ChatFormatter | None) -> str:
    if format_chat is None:
        return plain_prompt([(q.prompt, None)])
    return format_chat([{"role": "user", "content": q.prompt}])


def _second_prompt(q: Question, first: str, format_chat: ChatFormatter | None) -> str:
    assert q.second_turn is not None
    if format_chat is None:
        return plain_prompt([(q.prompt, first), (q.second_turn, None)])
    return format_chat([{"role": "user", "content": q.prompt}, {"role": "assistant", "content": first.strip()},
                        {"role": "user", "content": q.second_turn}])


def _run(ref: ModelRef, requests: list[GenerateUntil], store: Store, settings: AnswerSettings,
         progress: bool) -> tuple[list[str], RunStats]:
    from evalkit.engine.dispatch import run_requests
    from evalkit.progress import progress_bar

    bar = progress_bar(None, f"answers {ref.name}", total=0, enabled=progress)

    def factory() -> Backend:
        from evalkit.engine.loading import load_backend

        return load_backend(ref, device=settings.device, dtype=settings.dtype, batch_size=settings.batch_size)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        texts, stats = run_requests(requests, store=store, fingerprint=ref.fingerprint, backend_factory=factory,
                                    progress=bar.update, on_total=on_total)
    finally:
        bar.close()
    return [str(t) for t in texts], stats


def answer_records(model: str, questions: Sequence[Question], answers: Sequence[Answer], source: str
                   ) -> list[dict[str, Any]]:
    """``answers`` (in ``questions``' order) as the store's answers-table records (the arena shows them)."""
    return [{"model": model, "question_id": q.id, "category": q.category, "prompt": q.prompt, "answer": a.answer,
             "second_turn": q.second_turn, "second_answer": a.second_answer, "source": source}
            for q, a in zip(questions, answers, strict=True)]


# -- answers files ------------------------------------------------------------------------------------
def read_answers(path: Path, questions: Sequence[Question], flag: str) -> list[Answer]:
    """The answers in ``path`` for ``questions``, in their order; one line naming what is wrong otherwise."""
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file")
    from evalkit.data import read_json_lines

    by_id: dict[str, Answer] = {}
    for n, row in read_json_lines(path):
        if not isinstance(row.get("answer"), str) or "question_id" not in row:
            raise UserError(f"{path}:{n}: expected an object with question_id and answer (a string)")
        second = row.get("second_answer")
        if second is not None and not isinstance(second, str):
            raise UserError(f"{path}:{n}: second_answer: expected a string")
        qid = str(row["question_id"])
        if qid in by_id:
            raise UserError(f"{path}:{n}: question_id {qid!r} appears twice")
        by_id[qid] = Answer(qid, row["answer"], second)
    missing = [q.id for q in questions if q.id not in by_id]
    if missing:
        raise UserError(f"{flag} {path}: no answer for {len(missing)} question(s), first {missing[0]!r}")
    return [by_id[q.id] for q in questions]


def write_answers(path: Path, answers: Sequence[Answer]) -> None:
    """The answers file format :func:`read_answers` reads (atomically)."""
    from evalkit.report import write_jsonl_atomic

    write_jsonl_atomic(path, [{"question_id": a.question_id, "answer": a.answer,
                               **({"second_answer": a.second_answer} if a.second_answer is not None else {})}
                              for a in answers])


# -- warnings -----------------------------------------------------------------------------------------
def self_preference_warning(judge_model: str, judge_fingerprint: str | None, contestants: dict[str, str | None],
                            warn: Callable[[str], None] | None = None) -> str | None:
    """Warn when the judge is one of the contestants (judges favour their own answers).

    ``contestants`` maps each side's name to its fingerprint (None for answers from a file).
    Returns the warning (also printed on stderr), or None.
    """
    same = [name for name, fp in contestants.items()
            if name == judge_model or (fp is not None and fp == judge_fingerprint)]
    if not same:
        return None
    message = (f"warning: the judge {judge_model} is also contestant {same[0]}: judges tend to prefer their own "
               "answers (self-preference); read its verdicts with that in mind")
    (warn or (lambda m: print(m, file=sys.stderr)))(message)
    return message
