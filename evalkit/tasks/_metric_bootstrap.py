"""lm-eval's bootstrap standard error, drawing the very same resamples, fast.

lm-eval (``bootstrap_stderr``) makes ``iters // chunk`` chunks of ``chunk = min(1000, iters)``
replicates; chunk ``i`` seeds ``random.Random(i)`` and each replicate is ``rnd.choices(xs, k=len(xs))``,
i.e. ``xs[floor(rnd.random() * n)]`` n times. Its standard error is the sample standard deviation
(Bessel-corrected) of the replicates' statistic. The multiprocess and single-process paths draw the same.

Here the Mersenne Twister state of each ``random.Random(i)`` is handed to a numpy ``RandomState``,
whose ``random_sample`` is the same generator and the same 53-bit double construction as
``random.random``, so the index arrays are identical while costing nanoseconds per draw. The statistic
is then computed for many replicates at once where it reduces to counts or array operations (median,
perplexity, nanmean, F1, MCC, and sacrebleu's corpus scores, which are functions of summed per-segment
statistics); any other aggregation is called on each resampled list, as lm-eval does.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Iterator
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evalkit.tasks import _metric_aggregations as agg

# Cells of one (replicates x items) index block: big enough to amortise numpy calls, small enough
# (about 32 MiB of float64) to stay in memory beside everything else.
_BLOCK_CELLS = 1 << 22

Replicates = Callable[[NDArray[np.intp]], list[float]]


def resample_indices(n: int, iters: int) -> Iterator[NDArray[np.intp]]:
    """Yield (replicates, n) blocks of item indices: lm-eval's draws for ``n`` items and ``iters``, in order."""
    chunk = min(1000, iters)
    block = max(1, min(chunk, _BLOCK_CELLS // max(n, 1)))
    for seed in range(iters // chunk):
        rng = _numpy_twin(random.Random(seed))
        left = chunk
        while left:
            rows = min(block, left)
            # random.choices: floor(random() * float(n)); the product is the same IEEE operation here.
            yield (rng.random_sample(rows * n) * float(n)).astype(np.intp).reshape(rows, n)
            left -= rows


def _numpy_twin(rnd: random.Random) -> np.random.RandomState:
    """A numpy generator in exactly ``rnd``'s state (both are MT19937 with 624 words and a position)."""
    _version, internal, _gauss = rnd.getstate()
    twin = np.random.RandomState()
    twin.set_state(("MT19937", np.array(internal[:-1], dtype=np.uint32), internal[-1], 0, 0.0))
    return twin


def sample_stddev(values: list[float]) -> float:
    """lm-eval's Bessel-corrected standard deviation, with its left-to-right sums."""
    mu = sum(values) / len(values)
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (len(values) - 1))


def bootstrap_stderr(aggregation: str, items: list[Any], iters: int) -> float:
    """Standard error of ``aggregation`` over ``items`` by lm-eval's seeded bootstrap with ``iters`` draws."""
    replicates = _replicates_for(aggregation, items)
    values: list[float] = []
    for block in resample_indices(len(items), iters):
        values.extend(replicates(block))
    if len(values) < 2:
        raise ValueError(f"a bootstrap standard error needs at least 2 replicates, got {len(values)} "
                         f"(bootstrap_iters={iters})")
    return sample_stddev(values)


def _replicates_for(aggregation: str, items: list[Any]) -> Replicates:
    fast = _FAST.get(aggregation)
    replicates = fast(items) if fast else None
    return replicates or _generic(agg.AGGREGATIONS.get(aggregation), items)


def _generic(function: agg.Aggregation, items: list[Any]) -> Replicates:
    def replicates(block: NDArray[np.intp]) -> list[float]:
        return [function([items[j] for j in row]) for row in block.tolist()]

    return replicates


def _numbers(items: list[Any]) -> NDArray[np.float64] | None:
    """The items as floats when they all are real numbers (bools excepted), else None (use the generic path)."""
    if not all(isinstance(x, Real) and not isinstance(x, bool) for x in items):
        return None
    return np.asarray(items, dtype=np.float64)


def _median(items: list[Any]) -> Replicates | None:
    values = _numbers(items)
    if values is None or np.isnan(values).any():  # sorted() with NaN is order-dependent: leave it to sorted()
        return None
    middle = len(items) // 2
    return lambda block: np.partition(values[block], middle, axis=1)[:, middle].tolist()


def _perplexity(items: list[Any]) -> Replicates | None:
    values = _numbers(items)
    if values is None:
        return None
    return lambda block: np.exp(-values[block].mean(axis=1)).tolist()


def _nanmean(items: list[Any]) -> Replicates | None:
    values = _numbers(items)
    if values is None:
        return None

    def replicates(block: NDArray[np.intp]) -> list[float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample is NaN, as lm-eval's
            return np.nanmean(values[block], axis=1).tolist()

    return replicates


def _pair_counts(items: list[Any]) -> tuple[Callable[[NDArray[np.intp]], NDArray[np.int64]], list[Any], int]:
    """(counts per (gold, pred) cell for each replicate, labels, k) for classification items."""
    gold, pred, labels = agg.encode_labels(items)
    k = len(labels)
    cell = gold * k + pred

    def counts(block: NDArray[np.intp]) -> NDArray[np.int64]:
        rows = block.shape[0]
        flat = cell[block] + (np.arange(rows, dtype=np.intp) * k * k)[:, None]
        return np.bincount(flat.ravel(), minlength=rows * k * k).reshape(rows, k, k)

    return counts, labels, k


def _f1(items: list[Any]) -> Replicates | None:
    counts, labels, _k = _pair_counts(items)
    pos = agg.f1_positive_code(labels)  # raises where the point estimate raises
    if pos is None:
        return lambda block: [0.0] * block.shape[0]

    def replicates(block: NDArray[np.intp]) -> list[float]:
        c = counts(block)
        return agg.f1_from_counts(c[:, pos, pos], c[:, pos, :].sum(axis=1), c[:, :, pos].sum(axis=1)).tolist()

    return replicates


def _mcc(items: list[Any]) -> Replicates | None:
    counts, _labels, _k = _pair_counts(items)

    def replicates(block: NDArray[np.intp]) -> list[float]:
        c = counts(block).astype(np.float64)
        return agg.mcc_from_sums(c.sum(axis=2), c.sum(axis=1), np.trace(c, axis1=1, axis2=2)).tolist()

    return replicates


def _corpus(name: str) -> Callable[[list[Any]], Replicates]:
    """sacrebleu's corpus score is a function of the per-segment statistics summed over the corpus, so a
    replicate's score is the score of (draw counts) @ (segment statistics)."""

    def build(items: list[Any]) -> Replicates:
        streams, preds = agg.sacre_format(items)
        metric = agg.sacre_metric(name)
        segments = metric._extract_corpus_statistics(preds, streams)
        stats = np.array(segments)
        integral = np.issubdtype(stats.dtype, np.integer)

        def replicates(block: NDArray[np.intp]) -> list[float]:
            rows, n = block.shape
            flat = block + (np.arange(rows, dtype=np.intp) * n)[:, None]
            draws = np.bincount(flat.ravel(), minlength=rows * n).reshape(rows, n)
            sums = draws @ stats if integral else draws.astype(np.float64) @ stats
            return [float(metric._compute_score_from_stats(row).score) for row in sums.tolist()]

        return replicates

    return build


_FAST: dict[str, Callable[[list[Any]], Replicates | None]] = {
    "median": _median,
    "perplexity": _perplexity,
    "nanmean": _nanmean,
    "f1": _f1,
    "matthews_corrcoef": _mcc,
    **{name: _corpus(name) for name in ("bleu", "chrf", "chrf++", "ter")},
}
