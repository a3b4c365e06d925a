"""Bradley–Terry ratings by maximum likelihood, as FastChat's ``compute_mle_elo`` / ``compute_bt``.

The model: ``P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale))``. A tie (either kind) counts as
half a win for each side, which is FastChat's weighting (its logistic regression sees a tie as one
row labelled 1 and one labelled 0, or as label 0.5). The fit runs on votes aggregated by pair, so
its cost depends on the number of pairs, not votes. Ratings are centred so that the mean rating of
each connected group of models is ``initial`` (FastChat's optimiser starts at zero and every
gradient sums to zero, which gives the same centring; here it is explicit).

No finite maximum exists for a model that only won (or only lost): its likelihood keeps growing as
its rating goes to infinity. Such models are found first (repeatedly, since removing one can leave
another with only wins) and get ``+inf`` / ``-inf`` instead of whatever number an optimiser stops
at. A ridge penalty makes every rating finite, so nothing is removed then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, sparse, special
from scipy.sparse import csgraph

SCALE = 400.0
BASE = 10.0
INITIAL = 1000.0

# Dense bincount over every (pair, outcome) cell while that table stays small (100 models: 30,000
# cells); beyond it np.unique, which sorts the votes but needs no n_models**2 table.
_DENSE_CELLS = 1 << 24


@dataclass(frozen=True)
class PairCounts:
    """Votes aggregated by unordered pair of models.

    ``lo``, ``hi``: (n_pairs,) model indices with ``lo < hi``; ``counts``: (n_pairs, 3) float64 —
    wins of ``lo``, ties, wins of ``hi``.
    """

    n_models: int
    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    counts: NDArray[np.float64]

    @property
    def credit_lo(self) -> NDArray[np.float64]:
        """(n_pairs,) wins of ``lo`` over ``hi``, a tie counting one half."""
        return self.counts[:, 0] + 0.5 * self.counts[:, 1]

    @property
    def credit_hi(self) -> NDArray[np.float64]:
        """(n_pairs,) wins of ``hi`` over ``lo``, a tie counting one half."""
        return self.counts[:, 2] + 0.5 * self.counts[:, 1]

    def with_counts(self, counts: NDArray[np.float64]) -> PairCounts:
        """The same pairs with other (n_pairs, 3) counts (a bootstrap resample)."""
        return PairCounts(self.n_models, self.lo, self.hi, counts)

    def votes_per_model(self) -> NDArray[np.float64]:
        """(n_models,) number of votes each model took part in."""
        total = self.counts.sum(axis=1)
        by_lo = np.bincount(self.lo, total, self.n_models).astype(np.float64)
        return by_lo + np.bincount(self.hi, total, self.n_models)


def aggregate(
    model_a: NDArray[np.integer], model_b: NDArray[np.integer], score_a: NDArray[np.floating], n_models: int
) -> PairCounts:
    """Count the votes by unordered pair and outcome.

    ``model_a``, ``model_b``: (n_votes,) model indices, never equal in one vote; ``score_a``:
    (n_votes,) 1.0 (model_a won), 0.5 (tie) or 0.0 (model_b won).
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    outcome = np.rint(2.0 - 2.0 * np.asarray(score_a, dtype=np.float64)).astype(np.int64)  # 0 a, 1 tie, 2 b
    swap = a > b
    lo = np.where(swap, b, a)
    hi = np.where(swap, a, b)
    outcome = np.where(swap, 2 - outcome, outcome)
    pair_key = lo * n_models + hi
    if n_models * n_models * 3 <= _DENSE_CELLS:
        cells = np.bincount(pair_key * 3 + outcome, minlength=n_models * n_models * 3).reshape(-1, 3)
        keys = np.flatnonzero(cells.sum(axis=1))
        counts = cells[keys]
    else:
        keys, inverse = np.unique(pair_key, return_inverse=True)
        counts = np.bincount(inverse * 3 + outcome, minlength=len(keys) * 3).reshape(-1, 3)
    return PairCounts(n_models, keys // n_models, keys % n_models, counts.astype(np.float64))


@dataclass(frozen=True)
class BTFit:
    """A fit's ratings and what limits their meaning; every array is (n_models,)."""

    ratings: NDArray[np.float64]  # +inf only wins, -inf only losses, nan no votes
    only_wins: NDArray[np.bool_]
    only_losses: NDArray[np.bool_]
    group: NDArray[np.int64]  # connected group of the comparison graph (finite models); -1 otherwise
    n_groups: int
    #: False when some group splits into models that never lost to the rest: their rating gap has no
    #: finite maximum either (only a ridge penalty fixes it), beyond what only_wins/only_losses catch.
    identifiable: bool


def _degenerate(pairs: PairCounts, ridge: float) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """(active, only_wins, only_losses): models kept in the fit and those without a finite MLE."""
    m = pairs.n_models
    won_lo, won_hi = pairs.credit_lo, pairs.credit_hi
    active = pairs.votes_per_model() > 0
    only_wins = np.zeros(m, dtype=bool)
    only_losses = np.zeros(m, dtype=bool)
    if ridge > 0:
        return active, only_wins, only_losses
    while True:
        live = (active[pairs.lo] & active[pairs.hi]).astype(np.float64)
        won = np.bincount(pairs.lo, won_lo * live, m) + np.bincount(pairs.hi, won_hi * live, m)
        lost = np.bincount(pairs.lo, won_hi * live, m) + np.bincount(pairs.hi, won_lo * live, m)
        new_wins = active & (lost == 0) & (won > 0)
        new_losses = active & (won == 0) & (lost > 0)
        if not (new_wins.any() or new_losses.any()):
            return active, only_wins, only_losses
        only_wins |= new_wins
        only_losses |= new_losses
        active &= ~(new_wins | new_losses)


def _loss_and_grad(
    r: NDArray[np.float64], pairs: PairCounts, won_lo: NDArray[np.float64], won_hi: NDArray[np.float64],
    alpha: float, ridge: float, total: float,
) -> tuple[float, NDArray[np.float64]]:
    d = alpha * (r[pairs.lo] - r[pairs.hi])
    # -log P = logaddexp(0, -d) for the lo side, logaddexp(0, d) for the hi side: stable for any d.
    nll = float(won_lo @ np.logaddexp(0.0, -d) + won_hi @ np.logaddexp(0.0, d))
    g_d = alpha * ((won_lo + won_hi) * special.expit(d) - won_lo)
    m = pairs.n_models
    grad = np.bincount(pairs.lo, g_d, m) - np.bincount(pairs.hi, g_d, m) + ridge * r
    # Divided by the vote count so that one gradient tolerance fits 4 votes and 4 million.
    return (nll + 0.5 * ridge * float(r @ r)) / total, grad / total


def fit_bt(
    pairs: PairCounts,
    *,
    scale: float = SCALE,
    base: float = BASE,
    initial: float = INITIAL,
    ridge: float = 0.0,
    tol: float = 1e-10,
    start: NDArray[np.floating] | None = None,
) -> BTFit:
    """Maximum-likelihood Bradley–Terry ratings of ``pairs`` (L-BFGS with the analytic gradient).

    ``ridge`` adds ``ridge * sum(r**2) / 2`` to the negative log-likelihood summed over votes, with
    ``r = (R - initial) / scale``. Ratings of each connected group average ``initial``. ``start``:
    (n_models,) ratings to start from (bootstrap rounds start at the point fit, which saves most
    iterations); the optimum does not depend on it.
    """
    m = pairs.n_models
    active, only_wins, only_losses = _degenerate(pairs, ridge)
    live = (active[pairs.lo] & active[pairs.hi]).astype(np.float64)
    won_lo, won_hi = pairs.credit_lo * live, pairs.credit_hi * live
    total = max(float(won_lo.sum() + won_hi.sum()), 1.0)
    x0 = np.zeros(m)
    if start is not None:
        given = (np.asarray(start, dtype=np.float64) - initial) / scale
        x0 = np.where(np.isfinite(given), given, 0.0)
    result = optimize.minimize(
        _loss_and_grad, x0, args=(pairs, won_lo, won_hi, math.log(base), ridge, total),
        jac=True, method="L-BFGS-B", options={"maxiter": 10_000, "gtol": tol, "ftol": 1e-15},
    )
    r = np.asarray(result.x, dtype=np.float64)

    # Groups of the comparison graph among the models kept; a model whose every vote was against
    # removed models has no group of its own worth rating.
    keep = live > 0
    graph = sparse.coo_matrix((np.ones(int(keep.sum())), (pairs.lo[keep], pairs.hi[keep])), shape=(m, m))
    _, labels = csgraph.connected_components(graph, directed=False)
    has_live = (np.bincount(pairs.lo, live, m) + np.bincount(pairs.hi, live, m)) > 0
    _, dense = np.unique(labels[has_live], return_inverse=True)
    group = np.full(m, -1, dtype=np.int64)
    group[has_live] = dense
    n_groups = int(dense.max()) + 1 if has_live.any() else 0
    for g in range(n_groups):
        members = group == g
        r[members] -= r[members].mean()

    # A group is identifiable when its "earned credit against" graph is strongly connected.
    _, strong = csgraph.connected_components(
        _beats_graph(pairs, keep, won_lo, won_hi), directed=True, connection="strong")
    n_strong_live = len(np.unique(strong[has_live]))
    identifiable = ridge > 0 or n_strong_live == n_groups

    ratings = scale * r + initial
    ratings[~has_live] = np.nan
    ratings[only_wins] = np.inf
    ratings[only_losses] = -np.inf
    return BTFit(ratings, only_wins, only_losses, group.astype(np.int64), n_groups, bool(identifiable))


def _beats_graph(
    pairs: PairCounts, keep: NDArray[np.bool_], won_lo: NDArray[np.float64], won_hi: NDArray[np.float64]
) -> sparse.coo_matrix:
    """Directed graph with an edge i -> j when i earned any credit (win or tie) against j."""
    lo_beats = keep & (won_lo > 0)
    hi_beats = keep & (won_hi > 0)
    rows = np.concatenate([pairs.lo[lo_beats], pairs.hi[hi_beats]])
    cols = np.concatenate([pairs.hi[lo_beats], pairs.lo[hi_beats]])
    return sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(pairs.n_models, pairs.n_models))


def win_rate_matrix(ratings: NDArray[np.floating], *, scale: float = SCALE, base: float = BASE) -> NDArray[np.float64]:
    """(n_models, n_models) predicted ``P(row beats column)``; the diagonal is nan (no self-play)."""
    r = np.asarray(ratings, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        p = 1.0 / (1.0 + np.power(base, (r[None, :] - r[:, None]) / scale))
    np.fill_diagonal(p, np.nan)
    return p
