"""What a pairwise judging run says: counts, win rates with a bootstrap interval, position bias.

Definitions (the summary.json fields):

- ``wins``/``losses``/``ties``/``unscored``: questions by outcome for model A (the swap rule).
- ``scored`` = W + L + T. Rates are over the scored questions only: an unscored question is shown
  on its own and is neither a tie nor a loss, so it cannot move a rate.
- ``win_rate`` = W / scored; ``adjusted_win_rate`` = (W + 0.5·T) / scored.
- ``adjusted_win_rate_ci``: 95% percentile bootstrap interval (2.5th and 97.5th percentiles, numpy's
  linear interpolation) resampling scored *questions* with replacement, so both orders of a question
  always move together; seeded, so the same judgments and seed give the same interval.
- ``weighted_win_rate`` (verdicts read from probabilities, ``evalkit-judge-v2``): the mean over
  questions of model A's weighted win w (:mod:`evalkit.judge.probability_protocol`), with
  ``weighted_win_rate_ci`` bootstrapped as above; ``None`` for judgments without probabilities.
- ``position_consistency``: the share of scored questions whose two orders name the same model or
  both say tie (the verdict survives the swap).
- ``first_position_rate``: of the judge calls that picked a side (not tie, not unscored), the share that
  picked the answer shown first; 0.5 is an unbiased judge.
- ``mean_answer_length``: each model's mean answer length in characters over the judged questions
  (both turns together), since judges are known to favour longer answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from evalkit.judge.interfaces import Answer, Outcome, PairJudgment, PairVerdict

# Points for model A per outcome: a tie is half a win (the adjusted win rate).
_POINTS = {Outcome.WIN: 1.0, Outcome.TIE: 0.5, Outcome.LOSS: 0.0}


def bootstrap_mean_interval(points: np.ndarray, rounds: int, rng: np.random.Generator,
                            level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``points.mean()``; ``points`` has shape (n,), one value per
    resampling unit (a question). Draws ``rounds`` × n indices from ``rng``."""
    if points.ndim != 1 or points.size == 0:
        raise ValueError("points must be a non-empty 1-d array")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    draws = rng.integers(0, points.size, size=(rounds, points.size))
    means = points[draws].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _picked_first(verdict: PairVerdict) -> bool | None:
    """Whether a call picked the first-shown answer; ``None`` for a tie or an unscored call."""
    return {PairVerdict.A: True, PairVerdict.B: False}.get(verdict)


def _consistent(j: PairJudgment) -> bool:
    # In the swapped order the first shown is model B, so agreement is A/B, B/A or tie/tie.
    return (j.verdict_ab, j.verdict_ba) in {(PairVerdict.A, PairVerdict.B), (PairVerdict.B, PairVerdict.A),
                                            (PairVerdict.TIE, PairVerdict.TIE)}


def _mean_length(answers: Mapping[str, Answer] | Iterable[Answer], question_ids: list[str]) -> float | None:
    by_id = dict(answers) if isinstance(answers, Mapping) else {a.question_id: a for a in answers}
    lengths = [len(by_id[q].answer) + len(by_id[q].second_answer or "") for q in question_ids if q in by_id]
    return float(np.mean(lengths)) if lengths else None


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def count_outcomes(judgments: list[PairJudgment]) -> dict[str, int]:
    """``{"wins", "losses", "ties", "unscored", "scored", "questions"}`` for model A."""
    counts = Counter(j.outcome for j in judgments)
    wins, losses, ties = counts[Outcome.WIN], counts[Outcome.LOSS], counts[Outcome.TIE]
    return {"questions": len(judgments), "wins": wins, "losses": losses, "ties": ties,
            "unscored": counts[Outcome.UNSCORED], "scored": wins + losses + ties}


def summarize(judgments: list[PairJudgment], answers_a: Mapping[str, Answer] | Iterable[Answer],
              answers_b: Mapping[str, Answer] | Iterable[Answer], *, seed: int = 0,
              bootstrap: int = 1000) -> dict[str, Any]:
    """The summary.json content for one pairwise run (fields in the module docstring).

    ``judgments`` are one run's: the same two models, judge, prompt version. Rates are ``None``
    when no question was scored.
    """
    if not judgments:
        raise ValueError("no judgments to summarize")
    first = judgments[0]
    counts = count_outcomes(judgments)
    scored = [j for j in judgments if j.outcome is not Outcome.UNSCORED]
    points = np.array([_POINTS[j.outcome] for j in scored], dtype=float)
    interval = None
    if scored:
        interval = list(bootstrap_mean_interval(points, bootstrap, np.random.default_rng(seed)))
    picks = [p for j in judgments for p in (_picked_first(j.verdict_ab), _picked_first(j.verdict_ba))
             if p is not None]
    ids = [j.question_id for j in judgments]
    weighted = [j.extra.get("weighted_win") for j in judgments]
    weighted_rate = weighted_ci = None
    if weighted and all(isinstance(w, float) for w in weighted):
        w = np.array(weighted, dtype=float)
        weighted_rate = float(w.mean())
        weighted_ci = list(bootstrap_mean_interval(w, bootstrap, np.random.default_rng(seed)))
    by_category: dict[str, dict[str, int]] = {}
    for category in sorted({j.category or "" for j in judgments}):
        by_category[category or "(none)"] = count_outcomes([j for j in judgments if (j.category or "") == category])
    return {
        "model_a": first.model_a,
        "model_b": first.model_b,
        "judge": first.judge,
        "prompt_version": first.prompt_version,
        "modes": sorted({j.mode for j in judgments}),
        **counts,
        "win_rate": _share(counts["wins"], counts["scored"]),
        "adjusted_win_rate": float(points.mean()) if scored else None,
        "adjusted_win_rate_ci": interval,
        "weighted_win_rate": weighted_rate,
        "weighted_win_rate_ci": weighted_ci,
        "ci_level": 0.95,
        "bootstrap_rounds": bootstrap,
        "seed": seed,
        "position_consistency": _share(sum(_consistent(j) for j in scored), len(scored)),
        "first_position_rate": _share(sum(picks), len(picks)),
        "decisive_calls": len(picks),
        "mean_answer_length": {first.model_a: _mean_length(answers_a, ids),
                               first.model_b: _mean_length(answers_b, ids)},
        "by_category": by_category,
    }


def summarize_single(judgments: list[Any], *, seed: int = 0, bootstrap: int = 1000) -> dict[str, Any]:
    """Single-answer grading of one model: ``rated``, ``unscored``, ``mean_rating`` with its 95%
    bootstrap interval (resampling rated questions, seeded). ``judgments`` are
    :class:`~evalkit.judge.protocol.SingleJudgment` of one model and judge."""
    if not judgments:
        raise ValueError("no judgments to summarize")
    ratings = np.array([j.rating for j in judgments if j.rating is not None], dtype=float)
    interval = list(bootstrap_mean_interval(ratings, bootstrap, np.random.default_rng(seed))) if ratings.size else None
    return {"model": judgments[0].model, "judge": judgments[0].judge,
            "prompt_version": judgments[0].prompt_version, "questions": len(judgments),
            "rated": int(ratings.size), "unscored": len(judgments) - int(ratings.size),
            "mean_rating": float(ratings.mean()) if ratings.size else None,
            "mean_rating_ci": interval, "ci_level": 0.95, "bootstrap_rounds": bootstrap, "seed": seed}


def summarize_pairs(judgments: list[PairJudgment]) -> dict[str, Any]:
    """The summary of an ``evalkit judge --pairs`` run, whose pairs involve many models: outcomes (for
    each row's model_a), position consistency and first-position rate as in :func:`summarize`.
    Ratings of the models come from ``evalkit elo --from-judgments``."""
    if not judgments:
        raise ValueError("no judgments to summarize")
    scored = [j for j in judgments if j.outcome is not Outcome.UNSCORED]
    picks = [p for j in judgments for p in (_picked_first(j.verdict_ab), _picked_first(j.verdict_ba))
             if p is not None]
    models = {m for j in judgments for m in (j.model_a, j.model_b)}
    return {"judge": judgments[0].judge, "prompt_version": judgments[0].prompt_version,
            "modes": sorted({j.mode for j in judgments}), "pairs": len(judgments), "models": len(models),
            **{k: v for k, v in count_outcomes(judgments).items() if k != "questions"},
            "position_consistency": _share(sum(_consistent(j) for j in scored), len(scored)),
            "first_position_rate": _share(sum(picks), len(picks)), "decisive_calls": len(picks)}
