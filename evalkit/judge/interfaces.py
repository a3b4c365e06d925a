"""The types shared by the judge's modules.

Kept as its own small module: the types every other judge module imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class Question:
    """One question of a judge set (YAML or JSONL)."""

    id: str
    prompt: str
    category: str | None = None
    reference: str | None = None  # a reference answer (reference-guided grading: math, coding)
    second_turn: str | None = None  # an optional follow-up user turn


@dataclass(frozen=True)
class Answer:
    """A contestant's answer to one question (the JSONL format evalkit writes and reads)."""

    question_id: str
    answer: str
    second_answer: str | None = None


class PairVerdict(Enum):
    """What one judge call said, in the positions it was shown (A = first shown)."""

    A = "A"
    B = "B"
    TIE = "C"
    UNSCORED = "unscored"  # unparseable even after the verdict-only retry: never a tie, never a loss


class Outcome(Enum):
    """The result of one question for model A against model B, after both orders were judged."""

    WIN = "win"
    LOSS = "loss"
    TIE = "tie"
    UNSCORED = "unscored"


@dataclass(frozen=True)
class JudgeRequest:
    """One call to a judge: what makes it cacheable (with the judge's endpoint and model)."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    temperature: float = 0.0
    max_tokens: int = 1024


@dataclass(frozen=True)
class ChoiceRequest:
    """A judge call answered by probabilities, not text: the log-likelihood of each of ``choices`` as
    the judge's first words after ``messages`` (the verdict-first protocol, prompt ``evalkit-judge-v2``).

    ``choices`` are the labels (``("A", "B", "C")``, or the ratings ``"1"`` … ``"10"``). An endpoint reads
    them as its first token's ``top_logprobs``. A local judge opens its reply with the fixed ``prefix``
    (``"Verdict:"``) and scores each ``" " + choice + suffix`` as its continuation: the prefix keeps the
    scored text from starting after the chat template's trailing newline (which lm-eval's rule would
    move into every continuation), and ``suffix`` makes the strings prefix-free where labels are not
    (``"1"`` is a prefix of ``"10"``, ``"1/10"`` is not one of ``"10/10"``), so the scored events are disjoint.
    """

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, ending with the user's turn
    choices: tuple[str, ...]
    prefix: str = "Verdict:"
    suffix: str = ""


class ChoiceJudge(Protocol):
    """Answers choice requests with one log-likelihood per choice (``-inf`` for one it never gives)."""

    endpoint: str
    model: str

    def choice_logprobs(self, requests: list[ChoiceRequest]) -> list[tuple[float, ...]] | None:
        """Per request, the choices' log-probabilities (unnormalised), in order; cached ones without a
        call. ``None`` when the judge cannot give probabilities (an endpoint without ``logprobs``): the
        caller falls back to the text protocol."""
        ...


class JudgeClient(Protocol):
    """Answers judge requests; implementations add concurrency, retries, caching and budgets."""

    endpoint: str  # base URL (for the cache key and messages)
    model: str

    def complete_many(self, requests: list[JudgeRequest]) -> list[str]:
        """The judge's text for each request, in order (cached ones without a call)."""
        ...


@dataclass
class PairJudgment:
    """Both orders of one question, as stored in the judgments table."""

    question_id: str
    model_a: str
    model_b: str
    judge: str  # "<endpoint>#<model>"
    prompt_version: str
    mode: str  # pairwise | reference
    verdict_ab: PairVerdict  # A's answer shown first
    verdict_ba: PairVerdict  # B's answer shown first (in its own positions)
    raw_ab: str
    raw_ba: str
    outcome: Outcome
    extra: dict[str, object] = field(default_factory=dict)
    category: str | None = None  # the question's category (stored with the judgment, for breakdowns)
