"""Verdicts read from probabilities (prompt ``evalkit-judge-v2``): every question gets one.

Pairwise, per order: the judge's log-likelihoods ℓ_A, ℓ_B, ℓ_C of the letters after the verdict-first
prompt (:mod:`evalkit.judge.prompts`) are normalised over the three, p_X = exp ℓ_X / Σ_Y exp ℓ_Y, and
the order's verdict is the most likely letter. Nothing is parsed, so nothing is unscored.

Per pair (order *ab* shows model A's answer first, order *ba* model B's):

- **outcome**, MT-Bench's swap rule on the two most likely verdicts
  (:func:`evalkit.judge.protocol.outcome_of`): a win only when both orders name the same model;
- **weighted win** of model A, w = ½ [(p_A^ab + ½ p_C^ab) + (p_B^ba + ½ p_C^ba)]: the probability of
  winning plus half of tying, both orders averaged (AlpacaEval's graded preference, made
  position-free). A run's weighted win rate is the mean of w over its pairs
  (:func:`evalkit.judge.stats.summarize`).

The six log-likelihoods are stored in the judgment's ``extra["logprobs"]`` (``{"ab": {"A": …, "B": …,
"C": …}, "ba": {…}}``, ``None`` for −∞, which JSON cannot hold), with the normalised probabilities and w.

Single-answer: the ratings 1…10 are scored the same way and the judgment's rating is the expected
score Σ s·p(s) (G-Eval's); the most likely rating is kept beside it.

``--reasoning``: the judge first writes its explanation (greedy text), and the probabilities are read
after it, in a second turn asking for the verdict alone (prompt ``evalkit-judge-v2-reasoning``); the
explanation is the judgment's raw text.

A judge that cannot give probabilities (an endpoint without ``logprobs``) answers ``None``; the
functions here then return ``None`` and the caller uses the text protocol (``evalkit-judge-v1``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from evalkit.judge.interfaces import (
    Answer,
    ChoiceJudge,
    ChoiceRequest,
    PairJudgment,
    PairVerdict,
    Question,
)
from evalkit.judge.prompts import (
    PAIR_CHOICES,
    PROMPT_VERSION_V2,
    PROMPT_VERSION_V2_REASONING,
    RATING_CHOICES,
    after_reasoning,
    pairwise_choice_request,
    reasoning_request,
    single_choice_request,
)
from evalkit.judge.protocol import (
    SINGLE_MODES,
    PairItem,
    SingleJudgment,
    answers_by_question,
    judge_name,
    outcome_of,
)

_LETTER_VERDICT = {"A": PairVerdict.A, "B": PairVerdict.B, "C": PairVerdict.TIE}


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Probabilities over the choices from their log-likelihoods (−∞ → 0). A judge that gave none of
    them (every one −∞: an endpoint whose top tokens hold no choice) gets the uniform distribution."""
    finite = [x for x in logprobs if math.isfinite(x)]
    if not finite:
        return [1.0 / len(logprobs)] * len(logprobs)
    top = max(finite)
    weights = [math.exp(x - top) if math.isfinite(x) else 0.0 for x in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def most_likely(choices: Sequence[str], probabilities: Sequence[float]) -> str:
    """The choice with the highest probability (the first one on an exact tie)."""
    return choices[max(range(len(choices)), key=lambda i: (probabilities[i], -i))]


def weighted_win(p_ab: Sequence[float], p_ba: Sequence[float]) -> float:
    """Model A's weighted win from both orders' (p_A, p_B, p_C) (module docstring)."""
    return 0.5 * ((p_ab[0] + 0.5 * p_ab[2]) + (p_ba[1] + 0.5 * p_ba[2]))


def expected_score(probabilities: Sequence[float], scores: Sequence[float]) -> float:
    """Σ s·p(s)."""
    return float(sum(s * p for s, p in zip(scores, probabilities, strict=True)))


def _json_logprobs(choices: Sequence[str], logprobs: Sequence[float]) -> dict[str, float | None]:
    return {c: (x if math.isfinite(x) else None) for c, x in zip(choices, logprobs, strict=True)}


def _read(judge: ChoiceJudge, requests: list[ChoiceRequest], reasoning: bool, max_tokens: int
          ) -> tuple[list[tuple[float, ...]], list[str]] | None:
    """Each request's log-likelihoods and the judge's explanation ("" without ``reasoning``)."""
    if not reasoning:
        scores = judge.choice_logprobs(requests)
        return None if scores is None else (scores, [""] * len(requests))
    writer: Any = judge  # a judge that writes text too (EngineJudge, OpenAIJudgeClient)
    explain = [reasoning_request(r, max_tokens=max_tokens) for r in requests]
    explanations = writer.complete_many(explain)
    final = [after_reasoning(r, e, text) for r, e, text in zip(requests, explain, explanations, strict=True)]
    scores = judge.choice_logprobs(final)
    return None if scores is None else (scores, explanations)


def _calls_without_choice(scores: Iterable[Sequence[float]]) -> int:
    return sum(1 for s in scores if not any(math.isfinite(x) for x in s))


def judge_pair_items_by_probability(items: list[PairItem], *, judge: ChoiceJudge, reasoning: bool = False,
                                    max_tokens: int = 1024) -> list[PairJudgment] | None:
    """Each pair judged in both orders from the letters' probabilities, in order (module docstring);
    ``None`` when the judge gives no probabilities."""
    requests: list[ChoiceRequest] = []
    for item in items:
        q, a, b, ref = item.question, item.answer_a, item.answer_b, item.reference
        requests += [pairwise_choice_request(q, a, b, reference=ref), pairwise_choice_request(q, b, a, reference=ref)]
    read = _read(judge, requests, reasoning, max_tokens)
    if read is None:
        return None
    scores, explanations = read
    version = PROMPT_VERSION_V2_REASONING if reasoning else PROMPT_VERSION_V2
    judgments = []
    for i, item in enumerate(items):
        l_ab, l_ba = scores[2 * i], scores[2 * i + 1]
        p_ab, p_ba = normalise(l_ab), normalise(l_ba)
        v_ab = _LETTER_VERDICT[most_likely(PAIR_CHOICES, p_ab)]
        v_ba = _LETTER_VERDICT[most_likely(PAIR_CHOICES, p_ba)]
        extra: dict[str, object] = {
            "logprobs": {"ab": _json_logprobs(PAIR_CHOICES, l_ab), "ba": _json_logprobs(PAIR_CHOICES, l_ba)},
            "probabilities": {"ab": dict(zip(PAIR_CHOICES, p_ab)), "ba": dict(zip(PAIR_CHOICES, p_ba))},
            "weighted_win": weighted_win(p_ab, p_ba),
        }
        if item.pair_id is not None:
            extra["pair_id"] = item.pair_id
        if (missing := _calls_without_choice((l_ab, l_ba))):
            extra["calls_without_choice"] = missing
        raw_ab = explanations[2 * i] if reasoning else _describe(p_ab)
        raw_ba = explanations[2 * i + 1] if reasoning else _describe(p_ba)
        judgments.append(PairJudgment(
            question_id=item.question.id, model_a=item.model_a, model_b=item.model_b, judge=judge_name(judge),
            prompt_version=version, mode=item.mode, verdict_ab=v_ab, verdict_ba=v_ba, raw_ab=raw_ab, raw_ba=raw_ba,
            outcome=outcome_of(v_ab, v_ba), extra=extra, category=item.question.category))
    return judgments


def _describe(probabilities: Sequence[float]) -> str:
    """A judgment's raw text when the judge wrote none: its verdict distribution."""
    return " ".join(f"{c}={p:.3f}" for c, p in zip(PAIR_CHOICES, probabilities, strict=True))


def judge_single_by_probability(questions: list[Question], answers: Mapping[str, Answer] | Iterable[Answer], *,
                                judge: ChoiceJudge, model: str, mode: str = "single", reasoning: bool = False,
                                max_tokens: int = 1024) -> list[SingleJudgment] | None:
    """Each of ``model``'s answers rated by its expected score (module docstring), in question order;
    ``None`` when the judge gives no probabilities."""
    if mode not in SINGLE_MODES:
        raise ValueError(f"single-answer mode must be one of {', '.join(SINGLE_MODES)}, not {mode!r}")
    by_id = answers_by_question(answers, questions, model)
    uses_reference = [mode == "single-reference" and q.reference is not None for q in questions]
    requests = [single_choice_request(q, by_id[q.id], reference=ref)
                for q, ref in zip(questions, uses_reference, strict=True)]
    read = _read(judge, requests, reasoning, max_tokens)
    if read is None:
        return None
    scores, explanations = read
    version = PROMPT_VERSION_V2_REASONING if reasoning else PROMPT_VERSION_V2
    values = [float(s) for s in RATING_CHOICES]
    judgments = []
    for q, ref, logprobs, explanation in zip(questions, uses_reference, scores, explanations, strict=True):
        p = normalise(logprobs)
        rating = expected_score(p, values)
        extra: dict[str, object] = {"logprobs": _json_logprobs(RATING_CHOICES, logprobs),
                                    "probabilities": dict(zip(RATING_CHOICES, p)),
                                    "most_likely_rating": float(most_likely(RATING_CHOICES, p))}
        if _calls_without_choice([logprobs]):
            extra["calls_without_choice"] = 1
        judgments.append(SingleJudgment(
            question_id=q.id, model=model, judge=judge_name(judge), prompt_version=version,
            mode="single-reference" if ref else "single", rating=rating,
            raw=explanation if reasoning else f"expected rating {rating:.3f}", category=q.category, extra=extra))
    return judgments
