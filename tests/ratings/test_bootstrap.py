"""Bootstrap intervals: seeded determinism, the rank rule, and that the interval covers the fit."""

from __future__ import annotations

import numpy as np

from evalkit.ratings.bootstrap import bootstrap_bt, bootstrap_elo, intervals, ranks
from evalkit.ratings.bradley_terry import aggregate, fit_bt


def _votes(seed: int = 0, n: int = 2000, m: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + 10 ** ((b - a) / 8))  # higher index is stronger
    s = np.where(rng.random(n) < p, 1.0, 0.0)
    return a, b, s


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    a, b, s = _votes()
    pairs = aggregate(a, b, s, 8)
    first = bootstrap_bt(pairs, 20, np.random.default_rng(5))
    again = bootstrap_bt(pairs, 20, np.random.default_rng(5))
    other = bootstrap_bt(pairs, 20, np.random.default_rng(6))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    elo_1 = bootstrap_elo(a, b, s, 8, 5, np.random.default_rng(5))
    assert np.array_equal(elo_1, bootstrap_elo(a, b, s, 8, 5, np.random.default_rng(5)))


def test_intervals_cover_the_fit_and_resampling_keeps_the_vote_count() -> None:
    a, b, s = _votes()
    pairs = aggregate(a, b, s, 8)
    point = fit_bt(pairs).ratings
    samples = bootstrap_bt(pairs, 50, np.random.default_rng(1))
    lower, upper = intervals(samples)
    assert ((lower <= point) & (point <= upper)).all()
    assert (upper - lower > 0).all()


def test_rank_is_one_plus_models_clearly_above() -> None:
    lower = np.array([10.0, 8.0, 1.0, 0.0])
    upper = np.array([12.0, 11.0, 9.0, 0.5])
    # model 2 (upper 9): only model 0's lower bound (10) is above it; model 3: all three are.
    assert ranks(lower, upper).tolist() == [1, 1, 2, 4]


def test_infinite_rounds_give_infinite_bounds_not_nan() -> None:
    samples = np.array([[1000.0, -np.inf], [1010.0, 900.0], [990.0, 910.0], [np.nan, 905.0]])
    lower, upper = intervals(samples)
    assert lower[1] == -np.inf and np.isfinite(upper).all() and not np.isnan(lower).any()
