"""evalkit's mmlu, hellaswag and gsm8k against lm-eval 0.4.13 itself, item by item.

Both harnesses run the same model on the same slices (see conftest.py and evalkit/parity/lm_eval_tasks.py);
the expected values are lm-eval's own samples and results from that run. Per item: the request
arguments (every prompt and continuation, byte for byte), the log-likelihoods (1e-4, float32),
the greedy flags and the predictions, the generated text and the filtered answers. Per result
(task, MMLU category, MMLU subject): every metric and its standard error.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from evalkit.parity.lm_eval_tasks import MMLU_SUBJECTS
from tests.evaluators.conftest import CHAT_LIMIT, ParityRun

LL_TOLERANCE = 1e-4


def _by_doc(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(samples, key=lambda s: (s["doc_id"], s["filter"]))


def _arguments(sample: dict[str, Any]) -> list[list[Any]]:
    return [list(a) for a in sample["arguments"]]


def _assert_choices_match(task: str, doc_id: int, lm: dict[str, Any], ek: dict[str, Any],
                          metrics: tuple[str, ...]) -> None:
    where = f"{task} doc {doc_id}"
    assert _arguments(ek) == _arguments(lm), f"{where}: prompts differ"
    assert len(ek["filtered_resps"]) == len(lm["filtered_resps"]), where
    for i, ((lm_ll, lm_greedy), (ek_ll, ek_greedy)) in enumerate(zip(lm["filtered_resps"], ek["filtered_resps"])):
        assert abs(ek_ll - lm_ll) <= LL_TOLERANCE, f"{where} choice {i}: log-likelihood {ek_ll} vs lm-eval {lm_ll}"
        assert bool(ek_greedy) == bool(lm_greedy), f"{where} choice {i}: is_greedy"
    for metric in metrics:
        assert ek[metric] == lm[metric], f"{where}: {metric}"
    assert ek["target"] == lm["target"], f"{where}: target"


def _assert_results_match(run: ParityRun, names: list[str]) -> None:
    for name in names:
        lm_block, ek_block = run.lm_results[name], run.ek_results.get(name)
        assert ek_block is not None, f"evalkit reports no result {name!r}"
        keys = [k for k in lm_block if "," in k and k.split(",")[0] not in ("sample_count",)]
        assert keys, name
        for key in keys:
            lm_value, ek_value = lm_block[key], ek_block.get(key)
            if lm_value == "N/A" or ek_value == "N/A":
                assert lm_value == ek_value, f"{name} {key}: {ek_value} vs lm-eval {lm_value}"
            else:
                assert ek_value is not None and math.isclose(ek_value, float(lm_value), rel_tol=1e-9, abs_tol=1e-12), \
                    f"{name} {key}: {ek_value} vs lm-eval {lm_value}"


@pytest.mark.parametrize("task", ["mmlu5", "mmlu0", "mmlum", "mmlus"])
def test_mmlu_matches_lm_eval(parity: ParityRun, task: str) -> None:
    ek_samples = parity.ek_samples[task]
    for subject in MMLU_SUBJECTS:
        lm_samples = _by_doc(parity.lm_samples[f"{task}_{subject}"])
        mine = [s for s in ek_samples if s["doc"]["subject"] == subject]
        assert len(mine) == len(lm_samples) > 0, subject
        if task in ("mmlum", "mmlus"):
            assert len(mine) == CHAT_LIMIT
        for lm, ek in zip(lm_samples, mine):
            assert ek["doc"] == lm["doc"]
            _assert_choices_match(f"{task}_{subject}", lm["doc_id"], lm, ek, ("acc",))
    categories = sorted(set(MMLU_SUBJECTS.values()))
    _assert_results_match(parity, [task] + [f"{task}_{c}" for c in categories]
                          + [f"{task}_{s}" for s in MMLU_SUBJECTS])


def test_mmlu_prompts_have_lm_eval_shape(parity: ParityRun) -> None:
    """Spot checks that the runs above covered what they claim to (not a second reference)."""
    five_shot = parity.ek_samples["mmlu5"][0]["arguments"][0]
    assert five_shot[0].startswith("The following are multiple choice questions (with answers) about abstract "
                                   "algebra.\n\n")
    assert five_shot[0].count("\nAnswer:") == 6 and five_shot[1] == " A"
    multiturn = parity.ek_samples["mmlum"][0]["arguments"][0]
    assert multiturn[0].count("<|im_start|>assistant\n") == 6 and multiturn[1] == "A"
    single = parity.ek_samples["mmlus"][0]["arguments"][0]
    assert single[0].count("<|im_start|>assistant\n") == 1 and single[0].count("\nAnswer:") == 6


@pytest.mark.parametrize("task", ["hellaswag_local", "hellaswag_hub"])
def test_hellaswag_matches_lm_eval(parity: ParityRun, task: str) -> None:
    lm_samples, ek_samples = _by_doc(parity.lm_samples[task]), parity.ek_samples[task]
    assert len(ek_samples) == len(lm_samples) > 0
    for lm, ek in zip(lm_samples, ek_samples):
        for field in ("query", "choices", "gold"):
            assert ek["doc"][field] == lm["doc"][field], f"{task} doc {lm['doc_id']}: {field}"
        _assert_choices_match(task, lm["doc_id"], lm, ek, ("acc", "acc_norm"))
    _assert_results_match(parity, [task])


@pytest.mark.parametrize("task", ["gsm8k", "gsm8km"])
def test_gsm8k_matches_lm_eval(parity: ParityRun, task: str) -> None:
    lm_samples, ek_samples = _by_doc(parity.lm_samples[task]), _by_doc(parity.ek_samples[task])
    assert [(s["doc_id"], s["filter"]) for s in ek_samples] == [(s["doc_id"], s["filter"]) for s in lm_samples]
    for lm, ek in zip(lm_samples, ek_samples):
        where = f"{task} doc {lm['doc_id']} {lm['filter']}"
        (lm_context, lm_kwargs), = lm["arguments"]
        (ek_context, ek_kwargs), = ek["arguments"]
        assert ek_context == lm_context, f"{where}: prompt differs"
        assert ek_kwargs["until"] == lm_kwargs["until"] and ek_kwargs["max_gen_toks"] == lm_kwargs["max_gen_toks"]
        assert ek["resps"] == [lm["resps"][0][0]], f"{where}: generated text differs"
        assert ek["filtered_resps"] == lm["filtered_resps"], where
        assert ek["exact_match"] == lm["exact_match"], where
        assert ek["target"] == lm["target"], where
    _assert_results_match(parity, [task])


def test_gsm8k_run_exercised_stops_and_both_filters(parity: ParityRun) -> None:
    """The scripted model must make the comparison above meaningful: text cut at a stop string,
    and each filter extracting a different number."""
    by_filter = {s["filter"]: s for s in parity.ek_samples["gsm8k"] if s["doc_id"] == 0}
    assert by_filter["strict-match"]["resps"] == [" The total is $1,234.\n#### 567; x=8 "]
    assert by_filter["strict-match"]["filtered_resps"] == ["567"]
    assert by_filter["flexible-extract"]["filtered_resps"] == ["8"]
