"""The judging protocols: pairwise with swapped positions (MT-Bench's), and single-answer 1–10 grading.

Pairwise: every question is judged twice, once with A's answer shown first and once with B's answer
shown first. A win counts only when both orders name the same model; any disagreement, or a tie in
either order, is a tie (so a judge that always picks the first position produces ties, not wins).

An output without a readable verdict (:mod:`evalkit.judge.verdicts`) is asked once more, for the
verdict alone. Still unreadable, the call is ``UNSCORED`` and so is its question: counted and shown
on its own, never a tie, never a loss — the swap rule needs both orders.

Modes: ``pairwise`` ignores references; ``reference`` shows the question's reference answer to the judge
(reference-guided grading, for math and coding). A question without a reference is then judged with
the plain prompt and its judgment says so (``mode`` is ``pairwise``), rather than failing the run.
Single-answer: ``single`` and ``single-reference`` likewise.

Pure: every judge call goes through the :class:`~evalkit.judge.interfaces.JudgeClient`, in two batches
(all first calls, then all retries), so the client can run them concurrently, cache and budget them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from evalkit.errors import UserError
from evalkit.judge.interfaces import (
    Answer,
    ChoiceJudge,
    JudgeClient,
    JudgeRequest,
    Outcome,
    PairJudgment,
    PairVerdict,
    Question,
)
from evalkit.judge.prompts import PROMPT_VERSION, pairwise_request, retry_request, single_request
from evalkit.judge.verdicts import parse_pair_verdict, parse_rating

PAIRWISE_MODES = ("pairwise", "reference")
SINGLE_MODES = ("single", "single-reference")


@dataclass
class SingleJudgment:
    """One answer graded 1–10 (``rating`` is ``None`` when unscored), as stored in the judgments table."""

    question_id: str
    model: str
    judge: str  # "<endpoint>#<model>"
    prompt_version: str
    mode: str  # single | single-reference
    rating: float | None
    raw: str
    category: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def judge_name(judge: JudgeClient | ChoiceJudge) -> str:
    """How a judge is recorded: ``<endpoint>#<model>``."""
    return f"{judge.endpoint}#{judge.model}"


def answers_by_question(answers: Mapping[str, Answer] | Iterable[Answer], questions: list[Question],
                        model: str) -> dict[str, Answer]:
    """``answers`` keyed by question id; ``UserError`` naming the questions ``model`` did not answer."""
    by_id = dict(answers) if isinstance(answers, Mapping) else {a.question_id: a for a in answers}
    missing = [q.id for q in questions if q.id not in by_id]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UserError(f"no answer of {model} to question(s) {shown}")
    return by_id


def outcome_of(verdict_ab: PairVerdict, verdict_ba: PairVerdict) -> Outcome:
    """The swap rule: model A's result from both orders' verdicts (``verdict_ba`` in its own positions,
    where the first shown — ``A`` — is model B's answer)."""
    if PairVerdict.UNSCORED in (verdict_ab, verdict_ba):
        return Outcome.UNSCORED
    if verdict_ab is PairVerdict.A and verdict_ba is PairVerdict.B:
        return Outcome.WIN
    if verdict_ab is PairVerdict.B and verdict_ba is PairVerdict.A:
        return Outcome.LOSS
    return Outcome.TIE


def _ask(judge: JudgeClient, requests: list[JudgeRequest], parse: Callable[[str], object | None],
         rating: bool) -> list[tuple[str, str | None, object | None]]:
    """``(first reply, retry reply or None, parsed value or None)`` per request: one batch of first
    calls, then one batch of verdict-only retries for the replies that could not be read."""
    replies = judge.complete_many(requests)
    parsed = [parse(text) for text in replies]
    again = [i for i, value in enumerate(parsed) if value is None]
    retries: dict[int, str] = {}
    if again:
        answers = judge.complete_many([retry_request(requests[i], replies[i], rating=rating) for i in again])
        retries = dict(zip(again, answers, strict=True))
        for i, text in retries.items():
            parsed[i] = parse(text)
    return [(replies[i], retries.get(i), parsed[i]) for i in range(len(requests))]


@dataclass(frozen=True)
class PairItem:
    """One pair to judge: a question and two models' answers to it (``evalkit judge --pairs`` rows, or one
    question of an ``--a``/``--b`` run). ``reference`` shows the question's reference answer."""

    question: Question
    model_a: str
    answer_a: Answer
    model_b: str
    answer_b: Answer
    reference: bool = False
    pair_id: str | None = None  # a --pairs row's id, kept in the judgment's extra

    @property
    def mode(self) -> str:
        return "reference" if self.reference else "pairwise"


def pair_items(questions: list[Question], answers_a: Mapping[str, Answer] | Iterable[Answer],
               answers_b: Mapping[str, Answer] | Iterable[Answer], *, model_a: str, model_b: str,
               mode: str = "pairwise") -> list[PairItem]:
    """Every question of a two-model run as a :class:`PairItem` (``UserError`` for a missing answer)."""
    if mode not in PAIRWISE_MODES:
        raise ValueError(f"pairwise mode must be one of {', '.join(PAIRWISE_MODES)}, not {mode!r}")
    by_a = answers_by_question(answers_a, questions, model_a)
    by_b = answers_by_question(answers_b, questions, model_b)
    return [PairItem(q, model_a, by_a[q.id], model_b, by_b[q.id], mode == "reference" and q.reference is not None)
            for q in questions]


def judge_pairwise(questions: list[Question], answers_a: Mapping[str, Answer] | Iterable[Answer],
                   answers_b: Mapping[str, Answer] | Iterable[Answer], *, judge: JudgeClient, model_a: str,
                   model_b: str, mode: str = "pairwise", temperature: float = 0.0,
                   max_tokens: int = 1024) -> list[PairJudgment]:
    """Each question judged in both orders, in question order (see the module docstring)."""
    items = pair_items(questions, answers_a, answers_b, model_a=model_a, model_b=model_b, mode=mode)
    return judge_pair_items(items, judge=judge, temperature=temperature, max_tokens=max_tokens)


def judge_pair_items(items: list[PairItem], *, judge: JudgeClient, temperature: float = 0.0,
                     max_tokens: int = 1024) -> list[PairJudgment]:
    """Each pair judged in both orders with the text protocol (``evalkit-judge-v1``), in order."""
    requests: list[JudgeRequest] = []
    for item in items:
        q, a, b, ref = item.question, item.answer_a, item.answer_b, item.reference
        requests.append(pairwise_request(q, a, b, reference=ref, temperature=temperature, max_tokens=max_tokens))
        requests.append(pairwise_request(q, b, a, reference=ref, temperature=temperature, max_tokens=max_tokens))
    results = _ask(judge, requests, parse_pair_verdict, rating=False)
    judgments = []
    for i, item in enumerate(items):
        (raw_ab, retry_ab, v_ab), (raw_ba, retry_ba, v_ba) = results[2 * i], results[2 * i + 1]
        verdict_ab = v_ab if isinstance(v_ab, PairVerdict) else PairVerdict.UNSCORED
        verdict_ba = v_ba if isinstance(v_ba, PairVerdict) else PairVerdict.UNSCORED
        extra: dict[str, object] = {} if item.pair_id is None else {"pair_id": item.pair_id}
        if retry_ab is not None:
            extra["retry_ab"] = retry_ab
        if retry_ba is not None:
            extra["retry_ba"] = retry_ba
        judgments.append(PairJudgment(
            question_id=item.question.id, model_a=item.model_a, model_b=item.model_b, judge=judge_name(judge),
            prompt_version=PROMPT_VERSION, mode=item.mode,
            verdict_ab=verdict_ab, verdict_ba=verdict_ba, raw_ab=raw_ab, raw_ba=raw_ba,
            outcome=outcome_of(verdict_ab, verdict_ba), extra=extra, category=item.question.category))
    return judgments


def judge_single(questions: list[Question], answers: Mapping[str, Answer] | Iterable[Answer], *,
                 judge: JudgeClient, model: str, mode: str = "single", temperature: float = 0.0,
                 max_tokens: int = 1024) -> list[SingleJudgment]:
    """Each of ``model``'s answers graded 1–10, in question order (unreadable twice → ``rating=None``)."""
    if mode not in SINGLE_MODES:
        raise ValueError(f"single-answer mode must be one of {', '.join(SINGLE_MODES)}, not {mode!r}")
    by_id = answers_by_question(answers, questions, model)
    uses_reference = [mode == "single-reference" and q.reference is not None for q in questions]
    requests = [single_request(q, by_id[q.id], reference=ref, temperature=temperature, max_tokens=max_tokens)
                for q, ref in zip(questions, uses_reference, strict=True)]
    results = _ask(judge, requests, parse_rating, rating=True)
    judgments = []
    for q, ref, (raw, retry, value) in zip(questions, uses_reference, results, strict=True):
        judgments.append(SingleJudgment(
            question_id=q.id, model=model, judge=judge_name(judge), prompt_version=PROMPT_VERSION,
            mode="single-reference" if ref else "single",
            rating=value if isinstance(value, float) else None, raw=raw, category=q.category,
            extra={} if retry is None else {"retry": retry}))
    return judgments
