"""Online Elo against FastChat's published vector and a plain re-implementation written here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.ratings.elo import online_elo


def reference_elo(votes: list[tuple[int, int, float]], n: int, k: float = 4.0, scale: float = 400.0,
                  base: float = 10.0, initial: float = 1000.0) -> list[float]:
    # Written from the Elo formula (FastChat's compute_elo), independently of the code under test.
    r = [initial] * n
    for a, b, s in votes:
        expected = 1 / (1 + base ** ((r[b] - r[a]) / scale))
        r[a] += k * (s - expected)
        r[b] -= k * (s - expected)
    return r


def test_one_vote_a_beats_b_is_1002_998() -> None:
    assert online_elo(np.array([0]), np.array([1]), np.array([1.0]), 2).tolist() == [1002.0, 998.0]


def test_a_tie_between_equals_moves_nothing() -> None:
    assert online_elo(np.array([0]), np.array([1]), np.array([0.5]), 2).tolist() == [1000.0, 1000.0]


@pytest.mark.parametrize(("k", "scale", "base", "initial"), [(4.0, 400.0, 10.0, 1000.0), (32.0, 173.7, math.e, 1500.0)])
def test_matches_the_formula_on_random_votes_in_order(k: float, scale: float, base: float, initial: float) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 6, 500)
    b = (a + rng.integers(1, 6, 500)) % 6
    s = rng.choice([0.0, 0.5, 1.0], 500)
    got = online_elo(a, b, s, 6, k=k, scale=scale, base=base, initial=initial)
    want = reference_elo(list(zip(a.tolist(), b.tolist(), s.tolist(), strict=True)), 6, k, scale, base, initial)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got.sum() == pytest.approx(6 * initial)  # zero-sum updates


def test_order_matters() -> None:
    a, b = np.array([0, 0]), np.array([1, 1])
    assert not np.allclose(online_elo(a, b, np.array([1.0, 0.0]), 2), online_elo(a, b, np.array([0.0, 1.0]), 2))
