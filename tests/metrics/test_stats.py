"""Tests for evalkit.metrics.stats against hand calculations and lm-evaluation-harness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.metrics.stats import bootstrap_stderr, mean, mean_stderr, sample_stddev

VALUES = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]


def test_mean_and_stderr_by_hand() -> None:
    # sum = 40, n = 8 -> mean 5; squared deviations sum to 32 -> sample variance 32/7.
    assert mean(VALUES) == 5.0
    assert sample_stddev(VALUES) == pytest.approx(math.sqrt(32 / 7), rel=1e-15)
    assert mean_stderr(VALUES) == pytest.approx(math.sqrt(32 / 7) / math.sqrt(8), rel=1e-15)


def test_matches_lm_eval() -> None:
    lm_metrics = pytest.importorskip("lm_eval.api.metrics")
    values = list(np.random.default_rng(0).random(37))
    assert mean(values) == pytest.approx(lm_metrics.mean(values), rel=1e-12)
    assert sample_stddev(values) == pytest.approx(lm_metrics.sample_stddev(values), rel=1e-12)
    assert mean_stderr(values) == pytest.approx(lm_metrics.mean_stderr(values), rel=1e-12)


def test_undefined_spread_is_nan_and_empty_mean_raises() -> None:
    assert math.isnan(sample_stddev([3.0]))
    assert math.isnan(mean_stderr([3.0]))
    assert math.isnan(mean_stderr([]))
    with pytest.raises(ValueError):
        mean([])


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    items = list(range(20))
    first = bootstrap_stderr(mean, items, 200, np.random.default_rng(7))
    again = bootstrap_stderr(mean, items, 200, np.random.default_rng(7))
    other = bootstrap_stderr(mean, items, 200, np.random.default_rng(8))
    assert first == again
    assert first != other


def test_bootstrap_follows_documented_draws() -> None:
    # Independent re-implementation of the documented protocol: replicate k resamples
    # items[rng.integers(0, n, size=n)], and the result is the ddof=1 std of the replicates.
    items = [0.5, 1.0, 3.0, 8.0, 13.0]
    rng = np.random.default_rng(3)
    replicates = [np.median([items[i] for i in rng.integers(0, 5, size=5)]) for _ in range(50)]
    expected = float(np.std(replicates, ddof=1))
    assert bootstrap_stderr(np.median, items, 50, np.random.default_rng(3)) == pytest.approx(expected)


def test_bootstrap_of_mean_is_close_to_analytical_stderr() -> None:
    sample = np.random.default_rng(42).normal(loc=1.0, scale=2.0, size=2000)
    analytical = mean_stderr(sample)
    boot = bootstrap_stderr(lambda xs: float(np.mean(xs)), sample, 1000, np.random.default_rng(1))
    assert boot == pytest.approx(analytical, rel=0.1)


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bootstrap_stderr(mean, [], 10, np.random.default_rng(0))
    with pytest.raises(ValueError):
        bootstrap_stderr(mean, [1.0, 2.0], 1, np.random.default_rng(0))
