"""lm-eval's aggregations: the functions that turn a task's per-item values into one number.

Each is registered under the name a task file's ``aggregation:`` uses (lm-eval 0.4.13,
``lm_eval/api/metrics.py``) and returns the number lm-eval returns for the same items. The
classification scores (``f1``, ``matthews_corrcoef``) are computed from counts with numpy instead of
scikit-learn, which evalkit does not depend on; the formulas are scikit-learn's (binary F1 of label 1,
MCC from the confusion matrix), so the values are the same to the last bit for integer labels. The
corpus scores (``bleu``, ``chrf``, ``chrf++``, ``ter``) call sacrebleu exactly as lm-eval does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from evalkit.registry import Registry

Aggregation = Callable[[list[Any]], float]

AGGREGATIONS: Registry[Aggregation] = Registry("aggregation")


@AGGREGATIONS.register("bypass")
def bypass(items: list[Any]) -> float:
    """lm-eval's placeholder for metrics that are not aggregated: always 999."""
    return 999


@AGGREGATIONS.register("mean")
def mean(items: list[Any]) -> float:
    """Left-to-right sum over the count, as lm-eval (not numpy's pairwise sum, which rounds differently)."""
    return sum(items) / len(items)


@AGGREGATIONS.register("nanmean")
def nanmean(items: list[Any]) -> float:
    """Mean of the non-NaN values; NaN when there are none."""
    if len(items) == 0 or all(np.isnan(items)):
        return math.nan
    return float(np.nanmean(items))


@AGGREGATIONS.register("median")
def median(items: list[Any]) -> float:
    """The upper median (the item at ``len // 2`` once sorted), not the average of the middle two."""
    return sorted(items)[len(items) // 2]


@AGGREGATIONS.register("perplexity")
def perplexity(items: list[Any]) -> float:
    """``exp(-mean)`` of per-item loglikelihoods."""
    return math.exp(-mean(items))


def _weighted_mean(items: list[Any]) -> float:
    values, weights = zip(*items)
    return sum(values) / sum(weights)


@AGGREGATIONS.register("weighted_perplexity")
def weighted_perplexity(items: list[Any]) -> float:
    """``exp(-Σ loglikelihood / Σ weight)`` over ``(loglikelihood, words or bytes)`` items."""
    return math.exp(-_weighted_mean(items))


@AGGREGATIONS.register("bits_per_byte")
def bits_per_byte(items: list[Any]) -> float:
    """``-Σ loglikelihood / Σ bytes / ln 2`` over ``(loglikelihood, bytes)`` items."""
    return -_weighted_mean(items) / math.log(2)


# -- classification scores over (gold, pred) items -------------------------------------------------


def encode_labels(items: Sequence[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp], list[Hashable]]:
    """(gold codes, pred codes, labels) for ``(gold, pred)`` items; codes index ``labels`` (sorted when possible).

    Raises ValueError for a label that cannot be a class (a list: lm-eval's multiple-target golds).
    """
    golds, preds = (list(col) for col in zip(*items)) if items else ([], [])
    for label in (*golds, *preds):
        if not isinstance(label, Hashable) or (isinstance(label, float) and not float(label).is_integer()):
            raise ValueError(f"classification scores need class labels (integers), got {label!r}")
    labels = list(dict.fromkeys((*golds, *preds)))
    try:
        labels.sort()
    except TypeError:  # mixed types: the order of codes does not change any score computed here
        pass
    code = {label: i for i, label in enumerate(labels)}
    return (np.array([code[g] for g in golds], dtype=np.intp), np.array([code[p] for p in preds], dtype=np.intp),
            labels)


def f1_positive_code(labels: list[Hashable]) -> int | None:
    """The code of label 1 (scikit-learn's binary ``pos_label``), after its checks; None when 1 never occurs.

    Raises ValueError where scikit-learn's ``f1_score`` does: more than two labels, or two labels without 1.
    """
    if len(labels) > 2:
        raise ValueError(f"f1 is binary (positive label 1) but the items have {len(labels)} labels: {labels}")
    positive = [i for i, label in enumerate(labels) if label == 1]
    if not positive and len(labels) == 2:
        raise ValueError(f"f1's positive label is 1, which is not one of the items' labels {labels}")
    return positive[0] if positive else None


def f1_from_counts(tp: NDArray[Any], true_sum: NDArray[Any], pred_sum: NDArray[Any]) -> NDArray[np.float64]:
    """scikit-learn's ``2·tp / (true + predicted)`` per row, 0.0 where both are zero (its ``zero_division``)."""
    denom = true_sum.astype(np.float64) + pred_sum.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = 2.0 * tp.astype(np.float64) / denom
    return np.where(denom == 0, 0.0, score)


@AGGREGATIONS.register("f1")
def f1_score(items: list[Any]) -> float:
    """Binary F1 of label 1 over ``(gold, pred)`` items (scikit-learn's ``f1_score`` defaults)."""
    gold, pred, labels = encode_labels(items)
    pos = f1_positive_code(labels)
    if pos is None:
        return 0.0
    tp = np.array([np.sum((gold == pos) & (pred == pos))])
    return float(f1_from_counts(tp, np.array([np.sum(gold == pos)]), np.array([np.sum(pred == pos)]))[0])


def mcc_from_sums(t_sum: NDArray[np.float64], p_sum: NDArray[np.float64], n_correct: NDArray[np.float64]
                  ) -> NDArray[np.float64]:
    """Matthews' coefficient per row from per-class true/predicted counts (rows × classes), as scikit-learn.

    Every intermediate is an integer below 2**53 for fewer than ~9e7 items, so the order of the sums
    does not matter and the result equals scikit-learn's bit for bit.
    """
    n = p_sum.sum(axis=1)
    cov_ytyp = n_correct * n - np.einsum("ij,ij->i", t_sum, p_sum)
    cov_ypyp = n**2 - np.einsum("ij,ij->i", p_sum, p_sum)
    cov_ytyt = n**2 - np.einsum("ij,ij->i", t_sum, t_sum)
    product = cov_ypyp * cov_ytyt
    with np.errstate(invalid="ignore", divide="ignore"):
        score = cov_ytyp / np.sqrt(product)
    return np.where(product == 0, 0.0, score)


@AGGREGATIONS.register("matthews_corrcoef")
def matthews_corrcoef(items: list[Any]) -> float:
    """Matthews correlation coefficient of ``(gold, pred)`` items (multiclass allowed)."""
    gold, pred, labels = encode_labels(items)
    k = len(labels)
    t_sum = np.bincount(gold, minlength=k).astype(np.float64)[None, :]
    p_sum = np.bincount(pred, minlength=k).astype(np.float64)[None, :]
    n_correct = np.array([float(np.sum(gold == pred))])
    return float(mcc_from_sums(t_sum, p_sum, n_correct)[0])


@AGGREGATIONS.register("brier_score")
def brier_score(items: list[Any]) -> float:
    """Mean squared distance between the choice probabilities and the one-hot gold, over ``(gold, probs)`` items."""
    gold, predictions = zip(*items)
    probs = np.array(predictions)
    one_hot = np.eye(probs.shape[1])[list(gold)]
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


# -- corpus translation scores over (reference, prediction) items ----------------------------------


def sacre_format(items: Sequence[Any]) -> tuple[list[list[str]], list[str]]:
    """(reference streams, predictions) for sacrebleu from ``(ref, pred)`` items, with lm-eval's reshaping.

    A reference may be a string or a list of strings (several references; every item must have as many);
    sacrebleu wants them transposed into streams. A prediction may be a one-element list.
    """
    refs = [ref for ref, _ in items]
    preds = [pred for _, pred in items]
    if isinstance(refs[0], str) or not isinstance(refs[0], Iterable):
        refs = [[ref] for ref in refs]
    streams = [list(stream) for stream in zip(*refs)]
    if not isinstance(preds[0], str) and isinstance(preds[0], Iterable):
        if len(list(preds[0])) != 1:
            raise ValueError(f"a prediction for a corpus score must be one string, got {preds[0]!r}")
        preds = [next(iter(pred)) for pred in preds]
    return streams, preds


def sacre_metric(name: str) -> Any:
    """A fresh sacrebleu metric object configured as ``sacrebleu.corpus_<name>``'s defaults (which lm-eval uses)."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    if name == "bleu":
        return BLEU(lowercase=False, force=False, tokenize=BLEU.TOKENIZER_DEFAULT, smooth_method="exp",
                    smooth_value=None, effective_order=False)
    if name in ("chrf", "chrf++"):
        return CHRF(char_order=CHRF.CHAR_ORDER, word_order=2 if name == "chrf++" else CHRF.WORD_ORDER,
                    beta=CHRF.BETA, whitespace=False, eps_smoothing=False)
    if name == "ter":
        return TER(normalized=False, no_punct=False, asian_support=False, case_sensitive=False)
    raise KeyError(name)


def _corpus_score(name: str) -> Aggregation:
    def score(items: list[Any]) -> float:
        streams, preds = sacre_format(items)
        return float(sacre_metric(name).corpus_score(preds, streams).score)

    score.__name__ = name
    score.__doc__ = f"sacrebleu's corpus {name} (0-100) of ``(reference, prediction)`` items."
    return score


for _name in ("bleu", "chrf", "chrf++", "ter"):
    AGGREGATIONS.register(_name)(_corpus_score(_name))
