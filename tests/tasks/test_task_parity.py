"""The shipped task files (and lm-eval's own) in evalkit against lm-eval 0.4.13 itself, item by item.

Both harnesses run the same task files on the same model and local data (conftest.py); the expected
values are lm-eval's own samples and results from that run. Per item: the document, every request
(context and continuation, byte for byte), the log-likelihoods (1e-4, float32), the greedy flags,
the predicted choice, the logged target and every metric (TruthfulQA-MC2's, a function of the
log-likelihoods, is also recomputed with lm-eval's ``process_results_mc2`` on evalkit's own). Per task:
every aggregate and standard error (1e-6), and each also recomputed with lm-eval's aggregation and
stderr functions on evalkit's per-item values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from evalkit.parity.task_files import TASKS, included_file, token_counts
from tests.tasks.conftest import TIER_A, TIER_B, TaskParityRun

LL_TOLERANCE = 1e-4
AGGREGATE_TOLERANCE = 1e-6


def _by_doc(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(samples, key=lambda s: s["doc_id"])


def _ll_tolerance(lm_eval_ll: float) -> float:
    """1e-4, widened by lm-eval's own rounding: it sums a continuation's log-probs in float32, whose spacing
    passes 1e-5 beyond |ll| ~ 100 (the tiny random model's sharp logits give lls past -1000 on long texts)."""
    return LL_TOLERANCE + 2 * float(np.spacing(np.float32(abs(lm_eval_ll))))


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def _assert_items_match(run: TaskParityRun, name: str) -> None:
    written = run.tasks[name]
    lm_samples, ek_samples = _by_doc(run.lm_samples[name]), _by_doc(run.ek_samples[name])
    assert [s["doc_id"] for s in ek_samples] == [s["doc_id"] for s in lm_samples] == list(range(written.rows or 0))
    for lm, ek in zip(lm_samples, ek_samples):
        where = f"{name} doc {lm['doc_id']}"
        assert ek["doc"] == lm["doc"], f"{where}: document"
        assert ek["arguments"] == [list(a) for a in lm["arguments"]], f"{where}: requests differ"
        lm_ll = [float(ll) for ll, _ in lm["filtered_resps"]]
        ek_ll = [float(ll) for ll, _ in ek["filtered_resps"]]
        assert len(ek_ll) == len(lm_ll) == len(lm["arguments"]), where
        for i, (a, b) in enumerate(zip(lm_ll, ek_ll)):
            assert abs(b - a) <= _ll_tolerance(a), f"{where} request {i}: log-likelihood {b} vs lm-eval {a}"
        assert [bool(g) for _, g in ek["filtered_resps"]] == [bool(g) for _, g in lm["filtered_resps"]], \
            f"{where}: is_greedy"
        assert _argmax(ek_ll) == _argmax(lm_ll), f"{where}: predicted choice"
        assert ek["target"] == lm["target"], f"{where}: target"
        for metric in lm["metrics"]:
            if written.task == "truthfulqa_mc2":
                from lm_eval.tasks.truthfulqa.utils import process_results_mc2

                mine = process_results_mc2(ek["doc"], [tuple(r) for r in ek["filtered_resps"]])[metric]
                assert ek[metric] == pytest.approx(mine, rel=1e-12, abs=1e-15), f"{where}: {metric} on its own lls"
                assert abs(ek[metric] - lm[metric]) <= LL_TOLERANCE, f"{where}: {metric}"
            else:
                assert ek[metric] == lm[metric], f"{where}: {metric}"


def _assert_results_match(run: TaskParityRun, name: str) -> None:
    from lm_eval.api.metrics import mean, stderr_for_metric

    lm_block, ek_block = run.lm_results[name], run.ek_results.get(name)
    assert ek_block is not None, f"evalkit reports no result {name!r}"
    keys = [k for k in lm_block if "," in k]
    assert keys, name
    for key in keys:
        lm_value, ek_value = lm_block[key], ek_block.get(key)
        assert ek_value is not None and lm_value != "N/A", f"{name} {key}: {ek_value} vs lm-eval {lm_value}"
        assert abs(ek_value - float(lm_value)) <= AGGREGATE_TOLERANCE, f"{name} {key}: {ek_value} vs lm-eval {lm_value}"
        metric, _, filter_name = key.partition(",")
        if metric.endswith("_stderr"):
            continue
        # Every metric of these tasks aggregates by mean: lm-eval's functions on evalkit's own items.
        items = [s[metric] for s in run.ek_samples[name] if s["filter"] == filter_name]
        stderr = stderr_for_metric(mean, bootstrap_iters=100000)
        assert stderr is not None
        assert ek_value == pytest.approx(mean(items), rel=1e-12, abs=1e-15), f"{name} {key}"
        assert ek_block[f"{metric}_stderr,{filter_name}"] == pytest.approx(stderr(items), rel=1e-9, abs=1e-15), \
            f"{name} {metric}_stderr"


# -- tier (a): the tiny random Llama ----------------------------------------------------------------

@pytest.mark.parametrize("name", [p.name for p in TIER_A])
def test_items_match_lm_eval(tier_a: TaskParityRun, name: str) -> None:
    _assert_items_match(tier_a, name)


@pytest.mark.parametrize("name", [p.name for p in TIER_A])
def test_results_match_lm_eval(tier_a: TaskParityRun, name: str) -> None:
    _assert_results_match(tier_a, name)


@pytest.mark.parametrize("task", list(TASKS))
def test_shipped_file_asks_what_lm_evals_own_file_asks(tier_a: TaskParityRun, task: str) -> None:
    """Our shipped file and lm-eval's own file for the same task make the same requests, in both harnesses."""
    for samples in (tier_a.lm_samples, tier_a.ek_samples):
        ours, theirs = _by_doc(samples[f"ek_{task}"]), _by_doc(samples[f"lm_{task}"])
        assert [s["arguments"] for s in ours] == [s["arguments"] for s in theirs]
        assert [s["target"] for s in ours] == [s["target"] for s in theirs]


def test_lm_evals_own_winogrande_file_is_included_with_its_function_tags(tier_a: TaskParityRun) -> None:
    """The lm-eval variant really is lm-eval's file, code tags and all (evalkit recognised them by hash)."""
    written = tier_a.tasks["lm_winogrande"]
    own = included_file("winogrande", "lm_eval")
    assert own.parts[-3:] == ("tasks", "winogrande", "default.yaml")
    assert "!function preprocess_winogrande.doc_to_text" in own.read_text()
    assert f"include: {own}" in written.path.read_text()
    assert "!builtin" in included_file("winogrande", "shipped").read_text()


def test_25_shot_arc_challenge_prompts_hold_25_shots(tier_a: TaskParityRun) -> None:
    samples = _by_doc(tier_a.ek_samples["ek_arc_challenge_25"])
    contexts = [s["arguments"][0][0] for s in samples]
    assert all(c.count("Question:") == 26 for c in contexts)
    assert len({c.split("\n\n")[0] for c in contexts}) > 1  # drawn per document, not one fixed block


# -- tier (b): SmolLM2 -------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in TIER_B])
def test_items_match_lm_eval_smollm2(tier_b: TaskParityRun, name: str) -> None:
    _assert_items_match(tier_b, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in TIER_B])
def test_results_match_lm_eval_smollm2(tier_b: TaskParityRun, name: str) -> None:
    _assert_results_match(tier_b, name)


# -- the bench's token counts ------------------------------------------------------------------------

def test_token_counts_follow_each_harness_schedule() -> None:
    """lm-eval's side counted with lm-eval's own Collator grouping; evalkit's by hand from engine/prefix.py."""
    from lm_eval.models.utils import Collator

    shared = list(range(35))
    a, b = shared + [40, 41, 42, 43, 44], shared + [50, 51, 52, 53, 54]
    long = list(range(100, 160))
    pairs = [(a, [1]), (a, [2]), (b, [3, 4]), (b, [5, 6, 7]), (long, [8, 9])]
    max_length = 50
    counts = token_counts(pairs, max_length)

    requests = [((str(i), ""), c, k) for i, (c, k) in enumerate(pairs)]
    collator = Collator(requests, sort_fn=lambda r: (-len(r[1] + r[2]), tuple(r[1] + r[2])), group_by="contexts",
                        group_fn=lambda r: r[-2] + r[-1][:-1])
    fed = [len((c + k)[-(max_length + 1):][:-1]) for chunk in collator.get_batched(n=1) for _, c, k in chunk]
    assert counts.lm_eval == sum(fed) == 40 + 41 + 42 + 50
    # a and b share 35 tokens (>= MIN_SHARED): once; then each question's own 5 context tokens and every
    # choice's tokens but the last (0, 0 for a; 1, 2 for b); the long pair takes the plain path.
    assert counts.evalkit == 35 + (5 + 0 + 0) + (5 + 1 + 2) + 50
    assert math.isclose(counts.bound, counts.lm_eval / counts.evalkit)
