"""How often a judge agrees with people on the same pairs of answers, and how often people agree with each other.

Inputs: the judge's verdicts (:class:`JudgedPair`, one per pair of answers) and people's votes
(:class:`HumanVote`, any number per pair). A vote belongs to the judged pair with its question and
the same two models in either order (a vote naming them the other way round is flipped); votes on
pairs nobody judged are counted in ``votes_unmatched`` and used nowhere else. Both kinds of tie
("tie", "tie (bothbad)") are one tie. Below, a *pair* is a judged pair, ``k`` its number of votes,
``c_x`` how many of them say ``x`` (model_a, model_b, tie), and ``J`` the judge's outcome.

Every statistic is a ratio of sums over pairs, reported as ``{"value", "ci", "n"}`` (``n`` the
denominator; ``value`` ``None`` when it is 0):

- ``per_vote`` (MT-Bench's agreement with ties, "S1"): Σ c_J / Σ k, over every (pair, vote).
- ``per_vote_non_tie`` (MT-Bench "S2"): the same over (pair, vote) where neither the judge nor the
  vote is a tie: Σ_{J≠tie} c_J / Σ_{J≠tie} (c_model_a + c_model_b).
- ``majority``: the share of pairs whose unique most common vote is J; pairs whose most common
  count is shared by two outcomes are left out (a pair with one vote has that vote as majority).
- ``leave_one_out`` (AlpacaEval's): for every pair with k ≥ 2 and each of its votes i, the mode of
  the other k − 1 votes; J == that mode, over the (pair, i) whose remaining mode is unique.
- ``human_human``, the ceiling on the same pairs and votes: ``per_vote`` = Σ Σ_x c_x(c_x − 1) /
  Σ k(k − 1), every ordered pair of two distinct votes on one pair (the same value as unordered);
  ``per_vote_non_tie`` the same over votes that are not ties; ``leave_one_out`` = held-out vote i ==
  the mode of the others, over the same (pair, i) as the judge's ``leave_one_out``.
  :func:`human_agreement` gives these three alone, over every pair that has votes, with no judge.
- ``position_consistency``: over pairs judged in both orders, the share whose two calls are (A, B),
  (B, A) or (C, C) (the second call's letters are in its own positions); ``None`` when no pair was
  judged in both orders.
- ``first_position_rate``: of the calls that picked a side (A or B, either order), the share that
  picked the answer shown first; ``None`` when no call's positions are known.
- ``rank_correlation``: Kendall τ-b and Spearman ρ (scipy.stats) between Bradley–Terry ratings
  (``evalkit.ratings.bradley_terry.fit_bt``, FastChat's defaults, no ridge) fitted on the judge's
  outcomes (one vote per judged pair) and on people's matched votes, over the models rated in both
  (a model without a finite maximum-likelihood rating takes part as ±inf); ``n`` = ``models``.

Intervals: a bootstrap over the judged pairs, resampled with replacement (all votes and both calls
of a pair move together). The agreement shares use ``bootstrap`` rounds, recompute each ratio of
sums (a round whose denominator is 0 is left out) and give the 95% percentile interval (2.5th and
97.5th percentiles, numpy's linear interpolation). The rank correlations refit both ratings in each
of their own ``rating_bootstrap`` rounds and give value ± 1.959964 × the rounds' standard deviation
(clipped to [−1, 1]), not percentiles: a resample's ratings carry the resampling noise on top of the
estimate's own, which pulls their correlation towards 0, so the percentile interval sits below the
value (measured on LLMFAO, GPT-3.5: τ-b 0.540, percentile interval [0.372, 0.515] over 100 rounds).
Both draw from generators spawned from ``seed`` (``numpy.random.SeedSequence(seed).spawn(2)``), so
the same inputs and seed give the same intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

OUTCOMES = ("model_a", "model_b", "tie")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
VERDICTS = ("A", "B", "C")
CI_LEVEL = 0.95
_Z = 1.959964  # the standard normal's 97.5th percentile: a 95% normal interval

# Column of a winner in the (n_pairs, 3) count tables: [model_a, model_b, tie].
_COLUMN = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 2}
_VERDICT = {"A": 0, "B": 1, "C": 2, None: -1}
# The same outcome seen from the other side: model_a <-> model_b, a tie stays a tie (also A <-> B, C).
_FLIP = np.array([1, 0, 2])

Stat = dict[str, Any]
Ratios = dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]


@dataclass(frozen=True)
class JudgedPair:
    """One judge's verdict on one pair of answers (the pair as the judgments table orients it)."""

    question_id: str
    model_a: str
    model_b: str
    outcome: str  # "model_a" | "model_b" | "tie": the judge's verdict on the pair
    verdict_ab: str | None = None  # "A" | "B" | "C": the call showing model_a's answer first (None: not judged)
    verdict_ba: str | None = None  # "A" | "B" | "C": the call showing model_b's answer first, in its own positions


@dataclass(frozen=True)
class HumanVote:
    """One person's vote on one pair of answers."""

    question_id: str
    model_a: str
    model_b: str
    winner: str  # "model_a" | "model_b" | "tie" | "tie (bothbad)" (both ties count as tie)
    annotator: str | None = None


def agreement_report(judged: Sequence[JudgedPair], votes: Sequence[HumanVote], *, bootstrap: int = 1000,
                     rating_bootstrap: int = 100, seed: int = 0) -> dict[str, Any]:
    """The judge's agreement with ``votes`` on the ``judged`` pairs (every field in the module docstring).

    ``bootstrap``/``rating_bootstrap`` = 0 gives no intervals (``ci`` is ``None``). Raises
    ``ValueError`` for an empty ``judged``, a pair judged twice, a model against itself, or an
    outcome, verdict or winner outside its values.
    """
    if not judged:
        raise ValueError("no judged pairs")
    index: dict[tuple[str, str, str], int] = {}
    for i, pair in enumerate(judged):
        _check_pair(pair.model_a, pair.model_b, f"judged pair {i}")
        if pair.outcome not in OUTCOMES:
            raise ValueError(f"judged pair {i}: outcome {pair.outcome!r} is not one of {', '.join(OUTCOMES)}")
        for verdict in (pair.verdict_ab, pair.verdict_ba):
            if verdict not in _VERDICT:
                raise ValueError(f"judged pair {i}: verdict {verdict!r} is not one of {', '.join(VERDICTS)} or None")
        key = _key(pair.question_id, pair.model_a, pair.model_b)
        if key in index:
            raise ValueError(f"judged pair {i}: question {pair.question_id!r}, {pair.model_a!r} against "
                             f"{pair.model_b!r} was judged already (pair {index[key]})")
        index[key] = i
    counts = np.zeros((len(judged), 3))
    unmatched = 0
    for vote in votes:
        column = _vote_column(vote)
        i = index.get(_key(vote.question_id, vote.model_a, vote.model_b), -1)
        if i < 0:
            unmatched += 1
            continue
        counts[i, column if vote.model_a == judged[i].model_a else _FLIP[column]] += 1
    outcome = np.array([_COLUMN[p.outcome] for p in judged])
    ab = np.array([_VERDICT[p.verdict_ab] for p in judged])
    ba = np.array([_VERDICT[p.verdict_ba] for p in judged])

    ratios = _judge_ratios(counts, outcome)
    human = _human_ratios(counts)
    ratios.update({f"human_{name}": value for name, value in human.items()})
    both_orders = (ab >= 0) & (ba >= 0)
    ratios["position_consistency"] = (both_orders & (ab == _FLIP[ba])).astype(float), both_orders.astype(float)
    ratios["first_position_rate"] = ((ab == 0).astype(float) + (ba == 0)), (np.isin(ab, (0, 1)).astype(float)
                                                                            + np.isin(ba, (0, 1)))
    agreement_rng, rating_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    stats = ratio_stats(ratios, resample_weights(len(judged), bootstrap, agreement_rng))
    return {
        "pairs": len(judged),
        "votes": int(counts.sum()),
        "votes_unmatched": unmatched,
        **{name: stats[name] for name in ("per_vote", "per_vote_non_tie", "majority", "leave_one_out")},
        "human_human": {name: stats[f"human_{name}"] for name in human},
        "position_consistency": stats["position_consistency"] if both_orders.any() else None,
        "first_position_rate": stats["first_position_rate"] if ((ab >= 0) | (ba >= 0)).any() else None,
        "rank_correlation": _rank_correlation(judged, outcome, counts, rating_bootstrap, rating_rng),
    }


def human_agreement(votes: Sequence[HumanVote], *, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """People's agreement with each other alone: ``{"pairs", "votes", "per_vote", "per_vote_non_tie",
    "leave_one_out"}`` as ``human_human`` in :func:`agreement_report`, over every pair that has votes
    (a pair: a question and two models in either order), resampling those pairs."""
    index: dict[tuple[str, str, str], int] = {}
    rows: list[list[float]] = []
    for vote in votes:
        column = _vote_column(vote)
        key = _key(vote.question_id, vote.model_a, vote.model_b)
        if key not in index:
            index[key] = len(rows)
            rows.append([0.0, 0.0, 0.0])
        # Each pair is counted from its first-sorted model's side; agreement does not depend on the side.
        rows[index[key]][column if vote.model_a == key[1] else int(_FLIP[column])] += 1
    if not rows:
        raise ValueError("no votes")
    counts = np.array(rows)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    stats = ratio_stats(_human_ratios(counts), resample_weights(len(rows), bootstrap, rng))
    return {"pairs": len(rows), "votes": int(counts.sum()), **stats}


def resample_weights(n: int, rounds: int, rng: np.random.Generator) -> NDArray[np.float64] | None:
    """(rounds, n) how many times each of ``n`` units is drawn in each bootstrap round (n draws with
    replacement per round); ``None`` for 0 rounds."""
    if rounds <= 0:
        return None
    draws = rng.integers(0, n, size=(rounds, n)) + n * np.arange(rounds)[:, None]
    return np.bincount(draws.ravel(), minlength=rounds * n).reshape(rounds, n).astype(np.float64)


def ratio_stats(ratios: Ratios, weights: NDArray[np.float64] | None) -> dict[str, Stat]:
    """Each ``name: (numerator, denominator)`` of (n,) per-unit sums as ``{"value", "ci", "n"}``:
    Σ numerator / Σ denominator, and its percentile interval over the rounds of (rounds, n) ``weights``."""
    names = list(ratios)
    numerators = np.stack([ratios[name][0] for name in names], axis=1)
    denominators = np.stack([ratios[name][1] for name in names], axis=1)
    num_total, den_total = numerators.sum(axis=0), denominators.sum(axis=0)
    if weights is not None:
        round_num, round_den = weights @ numerators, weights @ denominators
    out: dict[str, Stat] = {}
    for j, name in enumerate(names):
        value = float(num_total[j] / den_total[j]) if den_total[j] > 0 else None
        ci = None
        if weights is not None and value is not None:
            kept = round_den[:, j] > 0
            ci = _percentiles(round_num[kept, j] / round_den[kept, j])
        out[name] = {"value": value, "ci": ci, "n": int(den_total[j])}
    return out


def _judge_ratios(counts: NDArray[np.float64], outcome: NDArray[np.int64]) -> Ratios:
    rows = np.arange(len(counts))
    agreeing = counts[rows, outcome]
    decisive = outcome != 2
    mode, unique = _unique_mode(counts)
    loo_num, loo_den = np.zeros(len(counts)), np.zeros(len(counts))
    for held_out in range(3):
        rest_mode, rest_unique = _left_out_mode(counts, held_out)
        weight = counts[:, held_out] * rest_unique
        loo_num += weight * (rest_mode == outcome)
        loo_den += weight
    return {
        "per_vote": (agreeing, counts.sum(axis=1)),
        "per_vote_non_tie": (np.where(decisive, agreeing, 0.0), np.where(decisive, counts[:, 0] + counts[:, 1], 0.0)),
        "majority": ((unique & (mode == outcome)).astype(float), unique.astype(float)),
        "leave_one_out": (loo_num, loo_den),
    }


def _human_ratios(counts: NDArray[np.float64]) -> Ratios:
    k = counts.sum(axis=1)
    decisive = counts[:, 0] + counts[:, 1]
    loo_num, loo_den = np.zeros(len(counts)), np.zeros(len(counts))
    for held_out in range(3):
        rest_mode, rest_unique = _left_out_mode(counts, held_out)
        weight = counts[:, held_out] * rest_unique
        loo_num += weight * (rest_mode == held_out)
        loo_den += weight
    return {
        "per_vote": ((counts * (counts - 1)).sum(axis=1), k * (k - 1)),
        "per_vote_non_tie": ((counts[:, :2] * (counts[:, :2] - 1)).sum(axis=1), decisive * (decisive - 1)),
        "leave_one_out": (loo_num, loo_den),
    }


def _unique_mode(counts: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(n,) the most common column of each row, and whether it is the only one with that count (and > 0)."""
    top = counts.max(axis=1)
    unique = ((counts == top[:, None]).sum(axis=1) == 1) & (top > 0)
    return counts.argmax(axis=1), unique


def _left_out_mode(counts: NDArray[np.float64], held_out: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The unique mode of each row's votes without one vote of column ``held_out`` (rows with none: not unique)."""
    rest = counts.copy()
    rest[:, held_out] -= 1
    mode, unique = _unique_mode(np.maximum(rest, 0))
    return mode, unique & (counts[:, held_out] > 0)


def _rank_correlation(judged: Sequence[JudgedPair], outcome: NDArray[np.int64], counts: NDArray[np.float64],
                      rounds: int, rng: np.random.Generator) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from evalkit.ratings.bradley_terry import PairCounts, fit_bt

    models = sorted({p.model_a for p in judged} | {p.model_b for p in judged})
    number = {name: i for i, name in enumerate(models)}
    a = np.array([number[p.model_a] for p in judged])
    b = np.array([number[p.model_b] for p in judged])
    m = len(models)
    model_pairs, pair_of = np.unique(np.minimum(a, b) * m + np.maximum(a, b), return_inverse=True)
    # PairCounts' columns are [wins of lo, ties, wins of hi]; a judged pair has model_a as lo unless swapped.
    order = np.where((a > b)[:, None], [1, 2, 0], [0, 2, 1])
    people_cells = np.take_along_axis(counts, order, axis=1)
    judge_cells = np.take_along_axis(np.eye(3)[outcome], order, axis=1)

    def ratings(cells: NDArray[np.float64], weight: NDArray[np.float64], start: NDArray[np.float64] | None
                ) -> NDArray[np.float64]:
        table = np.stack([np.bincount(pair_of, weight * cells[:, c], len(model_pairs)) for c in range(3)], axis=1)
        seen = table.sum(axis=1) > 0
        pairs = PairCounts(m, model_pairs[seen] // m, model_pairs[seen] % m, table[seen])
        return fit_bt(pairs, start=start).ratings

    def correlations(judge: NDArray[np.float64], people: NDArray[np.float64]) -> tuple[float, float, int]:
        from scipy import stats

        rated = ~np.isnan(judge) & ~np.isnan(people)
        if rated.sum() < 2:
            return np.nan, np.nan, int(rated.sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant side (one outcome everywhere) gives nan, reported as None
            tau = stats.kendalltau(judge[rated], people[rated]).statistic
            rho = stats.spearmanr(judge[rated], people[rated]).statistic
        return float(tau), float(rho), int(rated.sum())

    # Each fit is a sequence of tiny vector operations; BLAS threads only contend over them.
    with threadpool_limits(limits=1, user_api="blas"):
        ones = np.ones(len(judged))
        judge_point, people_point = ratings(judge_cells, ones, None), ratings(people_cells, ones, None)
        tau, rho, n_models = correlations(judge_point, people_point)
        weights = resample_weights(len(judged), rounds, rng)
        samples = np.array([correlations(ratings(judge_cells, w, judge_point), ratings(people_cells, w, people_point))
                            [:2] for w in weights]) if weights is not None else None
    result: dict[str, Any] = {}
    for column, (name, value) in enumerate((("kendall_tau", tau), ("spearman", rho))):
        ci = None
        if samples is not None and not np.isnan(value):
            kept = samples[~np.isnan(samples[:, column]), column]
            if kept.size >= 2:
                half = _Z * float(kept.std(ddof=1))
                ci = [max(value - half, -1.0), min(value + half, 1.0)]
        result[name] = {"value": None if np.isnan(value) else value, "ci": ci, "n": n_models}
    result["models"] = n_models
    return result


def _percentiles(values: NDArray[np.float64]) -> list[float]:
    tail = (1.0 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def _key(question_id: str, model_a: str, model_b: str) -> tuple[str, str, str]:
    low, high = sorted((model_a, model_b))
    return question_id, low, high


def _check_pair(model_a: str, model_b: str, where: str) -> None:
    if model_a == model_b:
        raise ValueError(f"{where}: {model_a!r} against itself is not a comparison")


def _vote_column(vote: HumanVote) -> int:
    _check_pair(vote.model_a, vote.model_b, f"vote on question {vote.question_id!r}")
    if vote.winner not in _COLUMN:
        raise ValueError(f"vote on question {vote.question_id!r}: winner {vote.winner!r} is not one of "
                         f"{', '.join(WINNERS)}")
    return _COLUMN[vote.winner]
