"""Bradley–Terry against FastChat's vector, its sklearn formulation rebuilt here, and a plain ascent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.ratings.bradley_terry import aggregate, fit_bt, win_rate_matrix

A_WIN, B_WIN, TIE = 1.0, 0.0, 0.5


def fastchat_mle_elo(votes: list[tuple[int, int, float]], n: int) -> np.ndarray:
    """FastChat's compute_mle_elo, rebuilt on sklearn: rows per ordered pair, wins weighted 2, ties 1."""
    from sklearn.linear_model import LogisticRegression

    win = np.zeros((n, n))
    for a, b, s in votes:
        win[a, b] += 2 * s
        win[b, a] += 2 * (1 - s)
    xs, ys, ws = [], [], []
    for i in range(n):
        for j in range(n):
            if i == j or (win[i, j] == 0 and win[j, i] == 0):
                continue
            x = np.zeros(n)
            x[i], x[j] = math.log(10), -math.log(10)
            xs += [x, x]
            ys += [1.0, 0.0]
            ws += [win[i, j], win[j, i]]
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-12, max_iter=10_000)
    lr.fit(np.array(xs), np.array(ys), sample_weight=np.array(ws))
    return 400 * lr.coef_[0] + 1000


def gradient_ascent(votes: list[tuple[int, int, float]], n: int, steps: int = 20_000, lr: float = 0.5) -> list[float]:
    """Plain-Python ascent on the mean log-likelihood in natural-log units, centred to mean 0."""
    theta = [0.0] * n
    for _ in range(steps):
        grad = [0.0] * n
        for a, b, s in votes:
            p = 1 / (1 + math.exp(theta[b] - theta[a]))
            grad[a] += (s - p) / len(votes)
            grad[b] -= (s - p) / len(votes)
        theta = [t + lr * g for t, g in zip(theta, grad, strict=True)]
    mean = sum(theta) / n
    return [1000 + 400 * (t - mean) / math.log(10) for t in theta]


def _fit(votes: list[tuple[int, int, float]], n: int, **options: float) -> np.ndarray:
    a, b, s = (np.array(col) for col in zip(*votes, strict=True))
    return fit_bt(aggregate(a, b, s, n), **options).ratings


def test_fastchat_vector_two_wins_a_tie_and_a_bothbad_tie() -> None:
    ratings = _fit([(0, 1, A_WIN), (0, 1, A_WIN), (0, 1, TIE), (0, 1, TIE)], 2)
    assert ratings == pytest.approx([1095.4243, 904.5757], abs=5e-5)


def _random_votes(seed: int, n_models: int, n_votes: int) -> list[tuple[int, int, float]]:
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, n_models)
    votes = []
    for _ in range(n_votes):
        a, b = rng.choice(n_models, 2, replace=False).tolist()
        p = 1 / (1 + math.exp(strength[b] - strength[a]))
        u = rng.random()
        votes.append((a, b, A_WIN if u < 0.8 * p else (B_WIN if u < 0.8 else TIE)))
    return votes


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_fastchat_sklearn_formulation(seed: int) -> None:
    votes = _random_votes(seed, 6, 400)
    np.testing.assert_allclose(_fit(votes, 6), fastchat_mle_elo(votes, 6), atol=1e-3)


def test_matches_plain_gradient_ascent() -> None:
    votes = _random_votes(3, 4, 60)
    np.testing.assert_allclose(_fit(votes, 4), gradient_ascent(votes, 4), atol=1e-3)


def test_order_of_votes_and_sides_do_not_matter() -> None:
    votes = _random_votes(4, 5, 200)
    flipped = [(b, a, 1 - s) for a, b, s in reversed(votes)]
    np.testing.assert_allclose(_fit(votes, 5), _fit(flipped, 5), atol=1e-6)


def test_only_wins_and_only_losses_are_infinite_not_huge() -> None:
    # 0 beats everyone; 3 loses to everyone; 1 and 2 split their games.
    votes = [(0, 1, A_WIN), (0, 2, A_WIN), (1, 2, A_WIN), (2, 1, A_WIN), (1, 3, A_WIN), (2, 3, A_WIN)]
    a, b, s = (np.array(col) for col in zip(*votes, strict=True))
    fit = fit_bt(aggregate(a, b, s, 4))
    assert fit.ratings[0] == math.inf and fit.ratings[3] == -math.inf
    assert fit.only_wins.tolist() == [True, False, False, False]
    assert fit.only_losses.tolist() == [False, False, False, True]
    assert fit.ratings[1:3] == pytest.approx([1000, 1000])


def test_ridge_makes_every_rating_finite() -> None:
    ratings = _fit([(0, 1, A_WIN), (1, 2, A_WIN)], 3, ridge=1.0)
    assert np.isfinite(ratings).all() and ratings[0] > ratings[1] > ratings[2]
    assert ratings.mean() == pytest.approx(1000)


def test_disconnected_groups_are_reported_and_centred_each() -> None:
    votes = [(0, 1, A_WIN), (1, 0, TIE), (2, 3, A_WIN), (3, 2, TIE)]
    a, b, s = (np.array(col) for col in zip(*votes, strict=True))
    fit = fit_bt(aggregate(a, b, s, 4))
    assert fit.n_groups == 2 and fit.group[0] == fit.group[1] != fit.group[2] == fit.group[3]
    assert fit.ratings[:2].mean() == pytest.approx(1000) and fit.ratings[2:].mean() == pytest.approx(1000)


def test_a_group_that_never_loses_to_another_is_flagged() -> None:
    # {0, 1} split their games, {2, 3} too, and 0 beats 2 once: no finite gap between the groups.
    votes = [(0, 1, A_WIN), (1, 0, A_WIN), (2, 3, A_WIN), (3, 2, A_WIN), (0, 2, A_WIN)]
    a, b, s = (np.array(col) for col in zip(*votes, strict=True))
    assert not fit_bt(aggregate(a, b, s, 4)).identifiable


def test_aggregation_counts_by_pair_and_outcome() -> None:
    pairs = aggregate(np.array([1, 0, 2, 0]), np.array([0, 1, 0, 2]), np.array([A_WIN, TIE, B_WIN, A_WIN]), 3)
    assert pairs.lo.tolist() == [0, 0] and pairs.hi.tolist() == [1, 2]
    assert pairs.counts.tolist() == [[0, 1, 1], [2, 0, 0]]


def test_win_rate_matrix() -> None:
    p = win_rate_matrix(np.array([1095.4243, 904.5757]))
    assert p[0, 1] == pytest.approx(0.75, abs=1e-6) and p[1, 0] == pytest.approx(0.25, abs=1e-6)
    assert np.isnan(np.diag(p)).all()
