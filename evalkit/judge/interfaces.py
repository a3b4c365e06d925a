"""INTERFACE SKELETON shared by the judge's modules (the contract between the engineers building them).

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
