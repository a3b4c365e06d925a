"""Tests for evalkit.metrics.text: every number is checked against the library called directly here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from evalkit.metrics import (
    TEXT_METRICS,
    bertscore,
    bleu_corpus,
    bleu_item,
    chrf_corpus,
    chrf_item,
    default_bertscore_model,
    expand_metric_names,
    rouge_item,
    score_text_metrics,
)

# Exact matches, paraphrases, a wrong answer, an empty prediction, a multi-line summary (sentences
# swapped) and one item with two references (so sacrebleu sees a second stream padded with None).
PREDICTIONS = [
    "The cat sat on the mat.",
    "Paris is the capital of France.",
    "The meeting was moved to Thursday afternoon.",
    "Water boils at 100 degrees Celsius at sea level.",
    "",
    "He bought three apples and two oranges.",
    "The quick brown fox jumps over the lazy dog.",
    "Plants store it as sugar.\nPhotosynthesis turns light into chemical energy.",
    "I don't know.",
    "The train leaves at 9 pm from platform 4.",
]
REFERENCES = [
    ["The cat sat on the mat."],
    ["The capital of France is Paris."],
    ["The meeting has been rescheduled to Thursday afternoon."],
    ["Water boils at 100 degrees Celsius at sea level."],
    ["The answer is forty-two."],
    ["He purchased three apples and a couple of oranges.", "He bought 3 apples and 2 oranges."],
    ["A quick brown fox jumped over the lazy dog."],
    ["Photosynthesis converts light energy into chemical energy.\nPlants store that energy as sugar."],
    ["The Treaty of Westphalia was signed in 1648."],
    ["The train departs from platform 4 at 9 pm."],
]
# Written out by hand (not with the module's helper): stream j holds each item's j-th reference.
STREAMS = [[refs[0] for refs in REFERENCES], [None] * 5 + [REFERENCES[5][1]] + [None] * 4]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_dir() -> str:
    try:
        path = default_bertscore_model()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        pytest.skip(f"default BERTScore encoder not installed: {error}")
    return path


@pytest.fixture(scope="module")
def model_layers(model_dir: str) -> int:
    return json.loads((Path(model_dir) / "config.json").read_text())["num_hidden_layers"]


# --------------------------------------------------------------------------- BLEU / chrF


def test_bleu_and_chrf_corpus_equal_sacrebleu() -> None:
    assert bleu_corpus(PREDICTIONS, REFERENCES) == sacrebleu.corpus_bleu(PREDICTIONS, STREAMS).score
    assert chrf_corpus(PREDICTIONS, REFERENCES) == sacrebleu.corpus_chrf(PREDICTIONS, STREAMS).score


def test_bleu_and_chrf_items_equal_sacrebleu() -> None:
    for pred, refs in zip(PREDICTIONS, REFERENCES, strict=True):
        assert bleu_item(pred, refs) == sacrebleu.sentence_bleu(pred, refs).score
        assert chrf_item(pred, refs) == sacrebleu.sentence_chrf(pred, refs).score
    assert bleu_item(PREDICTIONS[0], REFERENCES[0]) == pytest.approx(100.0)
    assert bleu_item("", REFERENCES[4]) == 0.0


def test_missing_references_are_none_not_empty() -> None:
    # An empty-string reference would change BLEU's closest reference length; None is dropped.
    padded_with_empty = [STREAMS[0], [s or "" for s in STREAMS[1]]]
    assert sacrebleu.corpus_bleu(PREDICTIONS, padded_with_empty).score != bleu_corpus(PREDICTIONS, REFERENCES)


# --------------------------------------------------------------------------- ROUGE


def test_rouge_equals_rouge_score() -> None:
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for pred, refs in zip(PREDICTIONS, REFERENCES, strict=True):
        direct = scorer.score_multi(refs, pred)
        assert rouge_item(pred, refs) == {key: direct[key].fmeasure for key in direct}
    assert rouge_item(PREDICTIONS[0], REFERENCES[0])["rouge2"] == 1.0
    # rougeLsum matches newline-separated sentences in any order; rougeL needs one in-order subsequence.
    multi_line = rouge_item(PREDICTIONS[7], REFERENCES[7])
    assert multi_line["rougeLsum"] > multi_line["rougeL"]


# --------------------------------------------------------------------------- BERTScore


def test_bertscore_equals_bert_score(model_dir: str, model_layers: int) -> None:
    import bert_score

    ours = bertscore(PREDICTIONS, REFERENCES)
    # bert_score.score itself raises AttributeError on empty text under transformers 5.x, so the direct
    # call skips the empty prediction; bert-score's rule for it (P = R = F1 = 0) is checked separately.
    kept = [i for i, pred in enumerate(PREDICTIONS) if pred.strip()]
    direct = bert_score.score(
        [PREDICTIONS[i] for i in kept],
        [REFERENCES[i] for i in kept],
        model_type=model_dir,
        num_layers=model_layers,
    )
    for got, want in zip(ours, direct, strict=True):
        assert len(got) == len(PREDICTIONS)
        np.testing.assert_allclose([got[i] for i in kept], want.numpy(), rtol=0, atol=1e-6)
        assert got[4] == 0.0  # the empty prediction
    assert ours[2][0] == pytest.approx(1.0, abs=1e-5)  # F1 of an identical pair


def test_bertscore_multi_reference_is_max_over_references(model_dir: str) -> None:
    pred, refs = PREDICTIONS[5], REFERENCES[5]
    per_ref = [bertscore([pred], [[ref]], model=model_dir) for ref in refs]
    both = bertscore([pred], [refs], model=model_dir)
    for k in range(3):
        assert both[k][0] == pytest.approx(max(scores[k][0] for scores in per_ref), abs=1e-6)


def test_bertscore_idf_equals_bert_score(model_dir: str, model_layers: int) -> None:
    import bert_score

    ours = bertscore(PREDICTIONS[:4], REFERENCES[:4], idf=True)  # no empty text
    direct = bert_score.score(
        PREDICTIONS[:4], REFERENCES[:4], model_type=model_dir, num_layers=model_layers, idf=True, nthreads=0
    )
    for got, want in zip(ours, direct, strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-6)


def test_bertscore_scorer_is_cached(model_dir: str) -> None:
    from evalkit.metrics import text

    bertscore(PREDICTIONS[:2], REFERENCES[:2], model=model_dir)
    cached = dict(text._SCORERS)
    # A relative spelling of the same folder must reuse the loaded scorer, not load another.
    bertscore(PREDICTIONS[2:4], REFERENCES[2:4], model=os.path.relpath(model_dir))
    assert cached.keys() == text._SCORERS.keys()
    assert all(text._SCORERS[key] is scorer for key, scorer in cached.items())


def test_bertscore_refuses_paths_bert_score_would_load_as_t5(model_dir: str, tmp_path: Path) -> None:
    folder = tmp_path / "bert_t5_lookalike"
    folder.mkdir()
    (folder / "config.json").write_text((Path(model_dir) / "config.json").read_text())
    with pytest.raises(ValueError, match="T5"):
        bertscore(PREDICTIONS[:1], REFERENCES[:1], model=str(folder))


# --------------------------------------------------------------------------- score_text_metrics


def test_expand_metric_names() -> None:
    assert expand_metric_names(["bleu", "rouge"]) == ["bleu", "rouge1", "rouge2", "rougeL", "rougeLsum"]
    assert expand_metric_names(["bertscore", "bertscore_f1"]) == [
        "bertscore_precision",
        "bertscore_recall",
        "bertscore_f1",
    ]
    assert set(expand_metric_names(["bleu", "chrf", "rouge", "bertscore"])) == set(TEXT_METRICS)
    with pytest.raises(ValueError, match="known: bleu, chrf"):
        expand_metric_names(["bleu", "meteor"])


def test_score_text_metrics_lexical() -> None:
    scores = score_text_metrics(PREDICTIONS, REFERENCES, ["bleu", "chrf", "rouge"], bootstrap_iters=50)
    names = ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum"]
    assert list(scores.per_item) == names and list(scores.aggregate) == names
    assert all(len(values) == len(PREDICTIONS) for values in scores.per_item.values())
    assert scores.per_item["bleu"][3] == sacrebleu.sentence_bleu(PREDICTIONS[3], REFERENCES[3]).score
    assert scores.aggregate["bleu"][0] == sacrebleu.corpus_bleu(PREDICTIONS, STREAMS).score
    assert scores.aggregate["chrf"][0] == sacrebleu.corpus_chrf(PREDICTIONS, STREAMS).score
    rouge1 = scores.per_item["rouge1"]
    assert scores.aggregate["rouge1"] == pytest.approx(
        (np.mean(rouge1), np.std(rouge1, ddof=1) / np.sqrt(len(rouge1)))
    )


def test_corpus_bootstrap_equals_sacrebleu_on_resamples() -> None:
    # Independent bootstrap with public sacrebleu calls on the resampled items and the same draws.
    iters, seed, n = 30, 99, len(PREDICTIONS)
    rng = np.random.default_rng(seed)
    bleu_reps, chrf_reps = [], []
    for _ in range(iters):
        idx = rng.integers(0, n, size=n)
        preds = [PREDICTIONS[i] for i in idx]
        streams = [[stream[i] for i in idx] for stream in STREAMS]
        bleu_reps.append(sacrebleu.corpus_bleu(preds, streams).score)
        chrf_reps.append(sacrebleu.corpus_chrf(preds, streams).score)
    scores = score_text_metrics(PREDICTIONS, REFERENCES, ["bleu", "chrf"], bootstrap_iters=iters, seed=seed)
    assert scores.aggregate["bleu"][1] == pytest.approx(np.std(bleu_reps, ddof=1), rel=1e-9)
    assert scores.aggregate["chrf"][1] == pytest.approx(np.std(chrf_reps, ddof=1), rel=1e-9)


def test_score_text_metrics_bertscore(model_dir: str) -> None:
    scores = score_text_metrics(PREDICTIONS, REFERENCES, ["bertscore"], bertscore_model=model_dir)
    assert list(scores.per_item) == ["bertscore_precision", "bertscore_recall", "bertscore_f1"]
    precision, _, f1 = bertscore(PREDICTIONS, REFERENCES, model=model_dir)
    assert scores.per_item["bertscore_f1"] == f1
    assert scores.aggregate["bertscore_precision"][0] == pytest.approx(np.mean(precision))


def test_score_text_metrics_edge_cases() -> None:
    with pytest.raises(ValueError, match="unknown text metric"):
        score_text_metrics(PREDICTIONS, REFERENCES, ["bleu", "bluert"])
    with pytest.raises(ValueError):
        score_text_metrics(PREDICTIONS, REFERENCES[:-1], ["bleu"])
    with pytest.raises(TypeError):
        score_text_metrics(PREDICTIONS[:1], ["a bare string"], ["bleu"])
    single = score_text_metrics(PREDICTIONS[:1], REFERENCES[:1], ["bleu", "rouge1"])
    assert single.aggregate == {"bleu": (pytest.approx(100.0), None), "rouge1": (1.0, None)}
    no_boot = score_text_metrics(PREDICTIONS, REFERENCES, ["chrf"], bootstrap_iters=0)
    assert no_boot.aggregate["chrf"][1] is None
