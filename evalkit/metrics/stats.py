"""Summary statistics for per-item scores: mean, its standard error, and bootstrap standard errors.

The definitions mirror lm-evaluation-harness (``lm_eval/api/metrics.py``) so that numbers are comparable:
``sample_stddev`` uses Bessel's correction (ddof=1), ``mean_stderr`` is ``sample_stddev / sqrt(n)`` and a
bootstrap standard error is the ``sample_stddev`` of the bootstrap replicates. Unlike lm-eval, where a
single item divides by zero, an undefined spread (fewer than two values) is reported as NaN, and the
bootstrap draws from an explicit ``numpy.random.Generator`` instead of seeded ``random.Random`` chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def _as_float_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array; raise ValueError if it is not one-dimensional."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of numbers, got shape {arr.shape}")
    return arr


def mean(values: Sequence[float] | np.ndarray) -> float:
    """Arithmetic mean of a non-empty 1-D sequence of numbers; ValueError if it is empty."""
    arr = _as_float_array(values)
    if arr.size == 0:
        raise ValueError("mean of an empty sequence")
    return float(arr.mean())


def sample_stddev(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof=1) of a 1-D sequence; NaN when it has fewer than two values."""
    arr = _as_float_array(values)
    if arr.size < 2:
        return math.nan
    return float(arr.std(ddof=1))


def mean_stderr(values: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean, ``sample_stddev(values) / sqrt(n)``; NaN when n < 2."""
    arr = _as_float_array(values)
    if arr.size < 2:
        return math.nan
    return sample_stddev(arr) / math.sqrt(arr.size)


def _resample(items: Sequence[T] | np.ndarray, indices: np.ndarray) -> Any:
    # Arrays are indexed in one step (rows for a 2-D array), which keeps bootstraps over
    # per-item sufficient statistics fast; any other sequence becomes a list.
    if isinstance(items, np.ndarray):
        return items[indices]
    return [items[i] for i in indices]


def bootstrap_stderr(
    statistic: Callable[[Sequence[T]], float],
    items: Sequence[T] | np.ndarray,
    iters: int,
    rng: np.random.Generator,
) -> float:
    """Bootstrap estimate of the standard error of ``statistic(items)``.

    Draws ``iters`` resamples of ``len(items)`` items with replacement; resample k is
    ``items[rng.integers(0, n, size=n)]`` (a list for a plain sequence, fancy indexing along axis 0
    for a numpy array). Returns the sample standard deviation (ddof=1) of the ``iters`` statistics,
    as lm-eval does. All randomness comes from ``rng``, which is advanced. Raises ValueError if
    ``items`` is empty or ``iters < 2``.
    """
    n = len(items)
    if n == 0:
        raise ValueError("bootstrap_stderr needs at least one item")
    if iters < 2:
        raise ValueError(f"bootstrap_stderr needs iters >= 2, got {iters}")
    # One draw per replicate rather than an (iters, n) matrix: memory stays O(n) for large corpora.
    replicates = [float(statistic(_resample(items, rng.integers(0, n, size=n)))) for _ in range(iters)]
    return sample_stddev(replicates)
