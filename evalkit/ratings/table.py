"""One rating table per method: point ratings, bootstrap intervals, ranks, votes and warnings.

This joins the pure pieces (``elo``, ``bradley_terry``, ``bootstrap``) for ``evalkit elo`` and the
leaderboard; it prints nothing. Each method draws from its own generator seeded with ``seed``, so
``--method both`` gives each method the same numbers as asking for it alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from evalkit.errors import UserError
from evalkit.ratings import bootstrap, bradley_terry, elo
from evalkit.ratings.votes import Votes

METHODS = ("bt", "elo")


@dataclass(frozen=True)
class RatingSettings:
    """How ratings are computed; the defaults are FastChat's."""

    k: float = elo.K
    scale: float = bradley_terry.SCALE
    base: float = bradley_terry.BASE
    initial: float = bradley_terry.INITIAL
    ridge: float = 0.0
    bootstrap_rounds: int = 100
    seed: int = 0
    anchor: tuple[str, float] | None = None  # shift every rating so that this model has this rating


@dataclass(frozen=True)
class ModelRating:
    """One row of a table; ``rating``/``lower``/``upper`` are ±inf for a model without a finite MLE."""

    model: str
    rating: float
    lower: float
    upper: float
    rank: int
    votes: int
    status: str  # ok | only wins | only losses | no votes left


@dataclass(frozen=True)
class RatingTable:
    """One method's ratings of every model, best first, with what the reader must know about them."""

    method: str
    rows: list[ModelRating]  # best first
    warnings: list[str]
    #: (n_models, n_models) predicted P(row beats column), models in ``votes.models`` order.
    win_rate: NDArray[np.float64]


def rate(votes: Votes, method: str, settings: RatingSettings) -> RatingTable:
    """The ``method`` ("bt" or "elo") table of ``votes``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    rng = np.random.default_rng(settings.seed)
    m = len(votes.models)
    pairs = bradley_terry.aggregate(votes.model_a, votes.model_b, votes.score_a, m)
    warnings: list[str] = []
    status = ["ok"] * m
    if method == "bt":
        options = {"scale": settings.scale, "base": settings.base, "initial": settings.initial, "ridge": settings.ridge}
        fit = bradley_terry.fit_bt(pairs, scale=settings.scale, base=settings.base, initial=settings.initial,
                                   ridge=settings.ridge)
        point = fit.ratings
        for i in range(m):
            if fit.only_wins[i]:
                status[i] = "only wins"
            elif fit.only_losses[i]:
                status[i] = "only losses"
            elif math.isnan(point[i]):
                status[i] = "no votes left"
        degenerate = [votes.models[i] for i in range(m) if status[i] != "ok"]
        if degenerate:
            warnings.append(f"bt: no finite maximum-likelihood rating for {_names(degenerate)} (only wins or only "
                            f"losses, checked again after removing those); shown as ±inf (--ridge gives finite ones)")
        if not fit.identifiable:
            warnings.append("bt: within a group, some models never lost to the others: their rating gaps have no "
                            "finite maximum and the numbers are not reliable (use --ridge)")
        samples = (bootstrap.bootstrap_bt(pairs, settings.bootstrap_rounds, rng, **options)
                   if settings.bootstrap_rounds else point[None, :])
    else:
        elo_options = {"k": settings.k, "scale": settings.scale, "base": settings.base, "initial": settings.initial}
        point = elo.online_elo(votes.model_a, votes.model_b, votes.score_a, m, **elo_options)
        samples = (bootstrap.bootstrap_elo(votes.model_a, votes.model_b, votes.score_a, m,
                                           settings.bootstrap_rounds, rng, **elo_options)
                   if settings.bootstrap_rounds else point[None, :])
    groups = _groups(pairs)
    if len(groups) > 1:
        listed = " | ".join(_names([votes.models[i] for i in g]) for g in groups[:5])
        warnings.append(f"{method}: the comparison graph falls apart into {len(groups)} groups that never met, "
                        f"so ratings compare only within a group: {listed}{' | ...' if len(groups) > 5 else ''}")
    if settings.anchor is not None:
        point, samples = _anchor(votes, point, samples, settings.anchor)
    lower, upper = bootstrap.intervals(samples)
    rank = bootstrap.ranks(lower, upper)
    n_votes = votes.votes_per_model()
    rows = [ModelRating(votes.models[i], float(point[i]), float(lower[i]), float(upper[i]), int(rank[i]),
                        int(n_votes[i]), status[i]) for i in range(m)]
    rows.sort(key=lambda r: (-r.rating if not math.isnan(r.rating) else math.inf, r.model))
    win_rate = bradley_terry.win_rate_matrix(point, scale=settings.scale, base=settings.base)
    return RatingTable(method, rows, warnings, win_rate)


def _anchor(votes: Votes, point: NDArray[np.float64], samples: NDArray[np.float64],
            anchor: tuple[str, float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    name, value = anchor
    if name not in votes.models:
        raise UserError(f"--anchor: {name!r} has no votes (models: {_names(list(votes.models))})")
    i = votes.models.index(name)
    if not math.isfinite(point[i]):
        raise UserError(f"--anchor: {name!r} has no finite rating to anchor on")
    # Each bootstrap round is shifted too, as FastChat does, so the anchor's interval is a point.
    with np.errstate(invalid="ignore"):
        shifts = np.where(np.isfinite(samples[:, i]), value - samples[:, i], np.nan)
    return point + (value - point[i]), samples + shifts[:, None]


def _groups(pairs: bradley_terry.PairCounts) -> list[list[int]]:
    """Models grouped by the connected components of the graph of pairs that met, largest first."""
    from scipy import sparse
    from scipy.sparse import csgraph

    m = pairs.n_models
    graph = sparse.coo_matrix((np.ones(len(pairs.lo)), (pairs.lo, pairs.hi)), shape=(m, m))
    _, labels = csgraph.connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def _names(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
