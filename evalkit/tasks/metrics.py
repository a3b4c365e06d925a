"""lm-eval's metrics for task files: per-item values, aggregations, standard errors, group scores.

Everything here reproduces lm-evaluation-harness 0.4.13 (``lm_eval/api/metrics.py``,
``ConfigurableTask.process_results`` in ``lm_eval/api/task.py``, ``_compute_task_aggregations`` in
``lm_eval/evaluator_utils.py`` and ``Group.aggregate`` in ``lm_eval/api/group.py``) number for number,
so a task file scored here reports what lm-eval reports for the same model responses:

- ``METRICS`` names what a ``metric_list`` entry may say, with lm-eval's default aggregation and
  direction, and the output types whose default scoring produces it (lm-eval silently produces
  nothing for, say, ``acc_norm`` on a ``loglikelihood`` task; the task loader refuses it instead);
- ``process_results`` gives one document's values; ``aggregate`` and ``stderr`` turn a task's values
  into its score and standard error (a closed form for ``mean``, lm-eval's seeded bootstrap, with the
  same draws, for the others it bootstraps); ``weighted_mean`` / ``pooled_stderr`` /
  ``unweighted_mean_stderr`` are a group's.

HF ``evaluate`` metrics (``hf_evaluate: true`` or a name lm-eval does not register) are not
supported: they would be fetched from the Hub.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.registry import Registry
from evalkit.tasks import _metric_results as per_item
from evalkit.tasks._metric_aggregations import AGGREGATIONS, Aggregation
from evalkit.tasks._metric_bootstrap import bootstrap_stderr, sample_stddev

__all__ = [
    "AGGREGATIONS", "BOOTSTRAPPED", "DEFAULT_METRICS", "METRICS", "OUTPUT_TYPES", "Aggregation", "MetricDef",
    "aggregate", "bootstrap_iters_for", "pooled_stderr", "process_results", "stderr",
    "unweighted_mean_stderr", "weighted_mean",
]

OUTPUT_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice", "generate_until")


@dataclass(frozen=True)
class MetricDef:
    """A metric a task file's ``metric_list`` may name.

    ``output_types``: the output types whose default ``process_results`` produces it (empty: only a
    task's own ``process_results`` does, as for ``acc_all``). ``aggregation`` / ``higher_is_better``:
    lm-eval's defaults when the entry does not say. ``options``: the extra keys the entry may carry.
    """

    name: str
    output_types: frozenset[str]
    aggregation: str
    higher_is_better: bool
    options: frozenset[str] = frozenset()


METRICS: Registry[MetricDef] = Registry("metric")

_LL, _ROLLING, _MC, _GEN = OUTPUT_TYPES
for _def in (
    MetricDef("acc", frozenset({_LL, _MC}), "mean", True),
    MetricDef("acc_norm", frozenset({_MC}), "mean", True),
    MetricDef("acc_bytes", frozenset({_MC}), "mean", True),
    MetricDef("acc_mutual_info", frozenset({_MC}), "mean", True),
    MetricDef("acc_all", frozenset(), "mean", True),
    MetricDef("exact_match", frozenset({_MC, _GEN}), "mean", True, per_item.EXACT_MATCH_OPTIONS),
    MetricDef("f1", frozenset({_MC}), "f1", True),
    MetricDef("mcc", frozenset({_MC}), "matthews_corrcoef", True),
    MetricDef("brier_score", frozenset({_MC}), "brier_score", False),
    MetricDef("likelihood", frozenset({_MC}), "mean", True),
    MetricDef("perplexity", frozenset({_LL}), "perplexity", False),
    MetricDef("word_perplexity", frozenset({_ROLLING}), "weighted_perplexity", False),
    MetricDef("byte_perplexity", frozenset({_ROLLING}), "weighted_perplexity", False),
    MetricDef("bits_per_byte", frozenset({_ROLLING}), "bits_per_byte", False),
    MetricDef("bleu", frozenset({_GEN}), "bleu", True),
    MetricDef("chrf", frozenset({_GEN}), "chrf", True),
    MetricDef("chrf++", frozenset({_GEN}), "chrf++", True),
    MetricDef("ter", frozenset({_GEN}), "ter", False),
    MetricDef("bypass", frozenset({_GEN}), "bypass", True),
):
    METRICS.register(_def.name)(_def)

# lm-eval's metrics for a task file without metric_list (DEFAULT_METRIC_REGISTRY).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    _LL: ("perplexity", "acc"),
    _ROLLING: ("word_perplexity", "byte_perplexity", "bits_per_byte"),
    _MC: ("acc", "acc_norm"),
    _GEN: ("exact_match",),
}

# Aggregations whose standard error lm-eval bootstraps (stderr_for_metric's list); "mean" has a closed
# form and every other aggregation reports none.
BOOTSTRAPPED = frozenset({"median", "matthews_corrcoef", "f1", "perplexity", "bleu", "chrf", "chrf++", "ter",
                          "nanmean"})

# lm-eval bootstraps these metrics (by metric name, whatever their aggregation) at most 100 times.
_FEW_BOOTSTRAPS = frozenset({"bleu", "chrf", "chrf++", "ter"})


def process_results(output_type: str, metrics: Sequence[tuple[str, dict[str, Any]]], results: list[Any], *,
                    gold: Any, choices: list[str] | None, multiple_input: bool, target_text: str | None,
                    multiple_target: bool | None = None) -> dict[str, Any]:
    """One document's metric values, as lm-eval's default ``ConfigurableTask.process_results`` returns them.

    ``metrics``: the task's metric_list as ``(name, options)`` in file order (a repeated name keeps its
    first place and its last options, as lm-eval's dicts do; ``aggregation``/``higher_is_better``/
    ``hf_evaluate`` keys are ignored). Only metrics the output type computes appear in the result.

    ``results``: what lm-eval passes, one entry per request of the document, after the filters:

    - ``loglikelihood``: ``[(ll, is_greedy)]`` → ``perplexity`` (ll), ``acc`` (0/1);
    - ``loglikelihood_rolling``: ``[ll]`` → ``word_perplexity`` ``(ll, words)``, ``byte_perplexity`` and
      ``bits_per_byte`` ``(ll, bytes)``, counted in ``target_text`` (doc_to_target as text);
    - ``multiple_choice``: ``[(ll, is_greedy)]`` per choice in ``choices`` order; with ``acc_mutual_info``
      among the metrics, then as many again for ``("", delimiter + choice)`` (the unconditional
      loglikelihoods), which lm-eval appends to the requests;
    - ``generate_until``: ``[response]``, the pipeline's output (a string; a list after take_first_k).

    ``gold``: doc_to_target's value (for ``multiple_choice`` an index, a list of indices, or a choice
    string; an index out of range or an unknown string scores as wrong, as lm-eval's -100), or, when
    ``multiple_input`` (doc_to_text gave an index), doc_to_text's index; ``multiple_input`` changes
    nothing else. ``choices``: doc_to_choice's strings, None when the task has no doc_to_choice (for
    ``generate_until`` a choices list turns the gold index into the gold string).
    ``multiple_target``: lm-eval decides it once per task, from the first document's doc_to_target
    being a list; None means "this gold is a list".

    Raises UnknownName for a metric lm-eval does not register (it would look it up on the Hub).
    """
    table: dict[str, dict[str, Any]] = {}
    for name, options in metrics:
        METRICS.get(name)
        table[name] = {key: value for key, value in options.items() if key not in per_item.NOT_OPTIONS}
    several = isinstance(gold, list) if multiple_target is None else multiple_target
    if output_type == "loglikelihood":
        return per_item.loglikelihood(table, results)
    if output_type == "loglikelihood_rolling":
        if target_text is None:
            raise ValueError("loglikelihood_rolling needs target_text (doc_to_target as text) to count words/bytes")
        return per_item.loglikelihood_rolling(table, results, target_text)
    if output_type == "multiple_choice":
        if choices is None:
            raise ValueError("multiple_choice needs the document's choices (doc_to_choice)")
        return per_item.multiple_choice(table, results, gold, choices, several)
    if output_type == "generate_until":
        return per_item.generate_until(table, results, gold, choices, several)
    raise ValueError(f"unknown output_type {output_type!r} (known: {', '.join(OUTPUT_TYPES)})")


def aggregate(aggregation: str, items: list[Any]) -> float:
    """The task score lm-eval's aggregation ``aggregation`` gives these per-item values."""
    return AGGREGATIONS.get(aggregation)(items)


def bootstrap_iters_for(metric: str, bootstrap_iters: int) -> int:
    """The bootstrap count lm-eval uses for ``metric``: at most 100 for bleu, chrf, chrf++ and ter."""
    return min(bootstrap_iters, 100) if metric in _FEW_BOOTSTRAPS else bootstrap_iters


def stderr(aggregation: str, items: list[Any], bootstrap_iters: int = 100000) -> float | None:
    """lm-eval's standard error of ``aggregate(aggregation, items)``; None where lm-eval reports "N/A".

    ``mean``: the sample standard deviation (n-1) over sqrt(n). The aggregations in ``BOOTSTRAPPED``:
    lm-eval's bootstrap (``random.Random(i)`` per chunk of min(1000, iters) replicates), whose draws
    are reproduced exactly, so the result equals lm-eval's single- or multi-process one to rounding
    (~1e-15 relative). None when ``bootstrap_iters <= 0``, for fewer than two items, or for any other
    aggregation. Pass ``bootstrap_iters_for(metric, iters)`` to mirror lm-eval's cap for bleu & co.
    """
    AGGREGATIONS.get(aggregation)
    if bootstrap_iters <= 0 or len(items) <= 1:
        return None
    if aggregation == "mean":
        return sample_stddev(items) / math.sqrt(len(items))
    if aggregation in BOOTSTRAPPED:
        return bootstrap_stderr(aggregation, items, bootstrap_iters)
    return None


def weighted_mean(values: list[float], sizes: list[int], weight_by_size: bool) -> float:
    """A group's score from its subtasks' (lm-eval's aggregate_subtask_metrics): size-weighted or plain mean."""
    if len(values) != len(sizes):
        raise ValueError(f"{len(values)} values but {len(sizes)} sizes")
    weights = sizes if weight_by_size else [1] * len(sizes)
    return sum(value * size for value, size in zip(values, weights)) / sum(weights)


def pooled_stderr(stderrs: list[float], sizes: list[int]) -> float:
    """A size-weighted group's standard error from its subtasks' (lm-eval's pooled_sample_stderr)."""
    if len(stderrs) != len(sizes):
        raise ValueError(f"{len(stderrs)} standard errors but {len(sizes)} sizes")
    pooled_variance = sum((size - 1) * se**2 * size for size, se in zip(sizes, stderrs)) / (sum(sizes) - len(sizes))
    return float(np.sqrt(pooled_variance / sum(sizes)))


def unweighted_mean_stderr(stderrs: list[float]) -> float:
    """An unweighted group's standard error (weight_by_size: false): sqrt(Σ se²) / k."""
    return float(np.sqrt(sum(se**2 for se in stderrs)) / len(stderrs))
