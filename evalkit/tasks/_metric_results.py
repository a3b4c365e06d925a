"""Per-document metric values, as lm-eval's default ``ConfigurableTask.process_results`` computes them.

One function per output type; ``evalkit.tasks.metrics.process_results`` validates the metric names and
dispatches here. The values (and their quirks) are lm-eval 0.4.13's: see each function.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

# metric_list keys that configure the task rather than the metric function (lm-eval drops them too).
NOT_OPTIONS = frozenset({"metric", "aggregation", "higher_is_better", "hf_evaluate"})

EXACT_MATCH_OPTIONS = frozenset({"regexes_to_ignore", "ignore_case", "ignore_punctuation", "ignore_numbers"})

# Deletion tables for str.translate (numpy's stubs only admit a str table; numpy passes it through).
_NO_PUNCTUATION: Any = str.maketrans("", "", string.punctuation)
_NO_DIGITS: Any = str.maketrans("", "", string.digits)


def exact_match(predictions: list[Any], references: list[Any], *, regexes_to_ignore: Sequence[str] | None = None,
                ignore_case: bool = False, ignore_punctuation: bool = False, ignore_numbers: bool = False) -> float:
    """Share of predictions equal to their reference after the optional normalisations, in this order:
    delete each regex's matches, lowercase, delete ASCII punctuation, delete ASCII digits.

    Same semantics as lm-eval's ``exact_match_hf_evaluate`` (a port of HF evaluate's exact_match), numpy
    broadcasting included: a list-valued prediction (``take_first_k``) is compared element-wise with
    its reference, so its score is the share of its elements that match.
    """
    preds: Any = predictions
    refs: Any = references
    if regexes_to_ignore is not None:
        for pattern in regexes_to_ignore:
            preds = np.array([re.sub(pattern, "", x) for x in preds])
            refs = np.array([re.sub(pattern, "", x) for x in refs])
    else:
        preds, refs = np.asarray(preds), np.asarray(refs)
    if ignore_case:
        preds, refs = np.char.lower(preds), np.char.lower(refs)
    if ignore_punctuation:
        preds, refs = np.char.translate(preds, table=_NO_PUNCTUATION), np.char.translate(refs, table=_NO_PUNCTUATION)
    if ignore_numbers:
        preds, refs = np.char.translate(preds, table=_NO_DIGITS), np.char.translate(refs, table=_NO_DIGITS)
    return float(np.mean(preds == refs))


def loglikelihood(metrics: dict[str, dict[str, Any]], results: list[Any]) -> dict[str, Any]:
    """``perplexity`` (the loglikelihood, aggregated later) and ``acc`` (is_greedy as 0/1) of one request."""
    ll, is_greedy = results[0]
    return {
        **({"perplexity": ll} if "perplexity" in metrics else {}),
        **({"acc": int(is_greedy)} if "acc" in metrics else {}),
    }


def loglikelihood_rolling(metrics: dict[str, dict[str, Any]], results: list[Any], target_text: str
                          ) -> dict[str, Any]:
    """``(loglikelihood, words)`` or ``(loglikelihood, bytes)`` pairs; words are ``re.split(r"\\s+")`` pieces."""
    (ll,) = results
    words = len(re.split(r"\s+", target_text))
    n_bytes = len(target_text.encode("utf-8"))
    return {
        **({"word_perplexity": (ll, words)} if "word_perplexity" in metrics else {}),
        **({"byte_perplexity": (ll, n_bytes)} if "byte_perplexity" in metrics else {}),
        **({"bits_per_byte": (ll, n_bytes)} if "bits_per_byte" in metrics else {}),
    }


def _gold_index(gold: Any, choices: list[str]) -> Any:
    """lm-eval's gold normalisation: an index past the choices, or a string not among them, becomes -100."""
    if isinstance(gold, list):
        return [i if i < len(choices) else -100 for i in gold]
    if isinstance(gold, int):
        return gold if gold < len(choices) else -100
    if isinstance(gold, str):
        return choices.index(gold) if gold in choices else -100
    return gold


def multiple_choice(metrics: dict[str, dict[str, Any]], results: list[Any], gold: Any, choices: list[str],
                    multiple_target: bool) -> dict[str, Any]:
    """acc (argmax loglikelihood), acc_norm (per character), acc_bytes (per UTF-8 byte), acc_mutual_info,
    exact_match (is_greedy of the gold), f1/mcc ``(gold, pred)``, brier_score ``(gold, softmax)``,
    likelihood ``(gold, loglikelihoods)``.

    With several golds (``multiple_target``) a prediction is right when it is any of them. The
    comparisons are numpy's, like lm-eval's, so a list-valued gold on a single-target task behaves
    (or fails) as there.
    """
    lls, is_greedy = zip(*results, strict=True)
    if "acc_mutual_info" in metrics:
        if len(lls) != 2 * len(choices):
            raise ValueError(f"acc_mutual_info needs 2 × {len(choices)} results (the conditional loglikelihoods "
                             f"of the choices, then their unconditional ones), got {len(lls)}")
        lls, unconditional = lls[: len(choices)], lls[len(choices):]
    completion_len = np.array([float(len(c)) for c in choices])
    byte_len = np.array([float(len(c.encode("utf-8"))) for c in choices])
    scores = np.asarray(lls, dtype=np.float64)
    pred = np.argmax(scores)
    pred_norm = np.argmax(scores / completion_len)
    pred_bytes = np.argmax(scores / byte_len)
    gold = _gold_index(gold, choices)
    if multiple_target:
        acc, acc_norm, acc_bytes = (1.0 if p in gold else 0.0 for p in (pred, pred_norm, pred_bytes))
        greedy = int(any(is_greedy[i] if i != -100 else 0 for i in gold))
    else:
        acc, acc_norm, acc_bytes = (1.0 if p == gold else 0.0 for p in (pred, pred_norm, pred_bytes))
        greedy = int(is_greedy[gold]) if gold != -100 else 0
    shifted = np.exp(scores - np.max(scores))
    out = {
        **({"acc": acc} if "acc" in metrics else {}),
        **({"f1": (gold, int(pred))} if "f1" in metrics else {}),
        **({"mcc": (gold, int(pred))} if "mcc" in metrics else {}),
        **({"acc_norm": acc_norm} if "acc_norm" in metrics else {}),
        **({"acc_bytes": acc_bytes} if "acc_bytes" in metrics else {}),
        **({"exact_match": greedy} if "exact_match" in metrics else {}),
        **({"brier_score": (gold, shifted / shifted.sum())} if "brier_score" in metrics else {}),
        **({"likelihood": (gold, lls)} if "likelihood" in metrics else {}),
    }
    if "acc_mutual_info" in metrics:
        mutual_info = [c - u for c, u in zip(lls, unconditional, strict=True)]
        out["acc_mutual_info"] = 1.0 if np.argmax(mutual_info) == gold else 0.0
    return out


def _score_one(metric: str, options: dict[str, Any], gold: Any, result: Any) -> Any:
    """What lm-eval's metric function returns for one (gold, result): exact_match's score, bypass's None,
    and for every other registered metric (passthroughs such as bleu) the item ``[gold, result]``."""
    if metric == "exact_match":
        return exact_match([result], [gold], **options)
    if metric == "bypass":
        return None
    return [gold, result]


def generate_until(metrics: dict[str, dict[str, Any]], results: list[Any], gold: Any, choices: list[str] | None,
                   multiple_target: bool) -> dict[str, Any]:
    """Each metric on the filtered response ``results[0]`` against the gold text.

    The gold is ``choices[gold]`` when the task has ``doc_to_choice``; else, for a single target whose
    type differs from the response's, it is converted to that type (``str(3)``), unless a metric is
    ``bypass`` or the response is a list. With several golds, exact_match is 1.0 when any matches,
    and every other metric is 1.0 when any of its per-gold values is truthy (so a passthrough metric
    such as bleu is always 1.0 there: lm-eval's behaviour, kept).
    """
    result = results[0]
    if choices is not None:
        gold = choices[gold]
    elif multiple_target:
        gold = list(gold)
    elif type(gold) is not type(result) and not ("bypass" in metrics or isinstance(result, list)):
        gold = type(result)(gold)
    out: dict[str, Any] = {}
    for metric, options in metrics.items():
        if multiple_target:
            golds = gold if isinstance(gold, list) else [gold]
            if metric == "exact_match":
                share = exact_match([result] * len(golds), golds, **options)
                out[metric] = 1.0 if share > 0.0 else 0.0
            else:
                out[metric] = 1.0 if any(_score_one(metric, options, g, result) for g in golds) else 0.0
        else:
            out[metric] = _score_one(metric, options, gold, result)
    return out
