"""The shipped MMLU, HellaSwag and GSM8K task files (suites/tasks) against lm-eval 0.4.13's own, item by item.

Both harnesses run the same model on the same data slices (evalkit/parity/lm_eval_tasks.py): evalkit
through ``evalkit run`` with ``--data-root``, lm-eval in-process on its unmodified task files with
``datasets.load_dataset`` answered from the same mirror. The expected values are lm-eval's own samples
and results from that run. Per item: the request arguments (every prompt and continuation, byte for
byte), the log-likelihoods (1e-4, float32), the greedy flags and the predictions, the generated text
and the filtered answers. Per result (task, MMLU group, category and subject): every metric and its
standard error. The ``mmlu`` group needs every subject, so all 57 run, on a few questions each.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalkit.parity.lm_eval_tasks import Slices, lm_eval_reads_mirror, make_slices
from tests.conftest import REPO, SHARED_DATA, save_scripted_model

# The scripted model's greedy text after ":" (a GSM8K prompt's last token). Every token differs,
# so each maps to exactly one successor.
SCRIPT = ": The total is $1,234.\n#### 567; x=8 Question"
MMLU_ROWS = 2  # test questions per MMLU subject in the slices
CHAT_LIMIT = 1  # documents per task (per MMLU subject) in the chat runs
# The chat runs check prompts, which groups do not change: three subjects (the groups run in the others).
CHAT_SUBJECTS = ("abstract_algebra", "computer_security", "management")
LL_TOLERANCE = 1e-4
CATEGORIES = ("stem", "humanities", "social_sciences", "other")


@dataclass(frozen=True)
class Run:
    """One evalkit run (a suite of task-file entries on one mirror) and the lm-eval call it is checked against."""

    entries: tuple[dict[str, Any], ...]
    mirror: str  # which Slices mirror evalkit reads
    lm_mirror: str  # ... and lm-eval
    lm_tasks: tuple[str, ...]
    lm_options: dict[str, Any]


CHAT = {"apply_chat_template": True, "num_fewshot": 5, "limit": CHAT_LIMIT}
RUNS: dict[str, Run] = {
    "fewshot": Run(({"task": "mmlu", "num_fewshot": 5}, {"task": "hellaswag", "num_fewshot": 5}, {"task": "gsm8k"}),
                   "hub", "hub", ("mmlu", "hellaswag", "gsm8k"), {"num_fewshot": 5}),
    "zeroshot": Run(({"task": "mmlu"}, {"task": "hellaswag"}), "hub", "hub", ("mmlu", "hellaswag"), {"num_fewshot": 0}),
    # evalkit reads the ctx-only rows; lm-eval, whose process_docs needs the hub's fields, the same rows in that shape.
    "local": Run(({"task": "hellaswag"},), "local", "local_as_hub", ("hellaswag",), {}),
    "multiturn": Run((*({"task": f"mmlu_{s}", **CHAT} for s in CHAT_SUBJECTS), {"task": "gsm8k", **CHAT}), "hub",
                     "hub", (*(f"mmlu_{s}" for s in CHAT_SUBJECTS), "gsm8k"), {**CHAT, "fewshot_as_multiturn": True}),
    "singleturn": Run(tuple({"task": f"mmlu_{s}", **CHAT, "fewshot_as_multiturn": False} for s in CHAT_SUBJECTS),
                      "hub", "hub", tuple(f"mmlu_{s}" for s in CHAT_SUBJECTS),
                      {**CHAT, "fewshot_as_multiturn": False}),
}


@dataclass
class ParityRun:
    """lm-eval's results and samples, and evalkit's, by run and then by task (or group) name."""

    slices: Slices
    lm_results: dict[str, dict[str, dict[str, Any]]]
    lm_samples: dict[str, dict[str, list[dict[str, Any]]]]
    ek_results: dict[str, dict[str, dict[str, Any]]]
    ek_samples: dict[str, dict[str, list[dict[str, Any]]]]


@pytest.fixture(scope="session")
def scripted_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny random Llama with an untied output layer that makes greedy decoding follow SCRIPT.

    A random model with tied embeddings repeats its last token (``"::::"``), which would leave
    the stop strings and GSM8K's answer filters untested. Here the output row of each token of
    SCRIPT is the input embedding of the token before it, so after ``":"`` greedy decoding writes
    ``" The total is $1,234.\\n#### 567; x=8 Question"`` and stops at ``"Question:"``: both
    filters find a (different) number. Every other row is the tied embedding, as before.
    """
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(tiny_model_dir).encode(SCRIPT, add_special_tokens=False)
    return save_scripted_model(tiny_model_dir, ids, tmp_path_factory.mktemp("scripted-llama"))


def _mirror(slices: Slices, name: str) -> Path:
    return {"hub": slices.hub, "local": slices.local, "local_as_hub": slices.local_as_hub}[name]


def _evalkit(name: str, run: Run, slices: Slices, model: Path, root: Path, env: dict[str, str]) -> str | None:
    """``evalkit run`` of one run's suite; its results and samples under ``root/name``; an error text on failure."""
    suite = {"suite": f"parity-{name}", "defaults": {"batch_size": 8, "seed": 1234}, "tasks": list(run.entries)}
    path = root / f"{name}.yaml"
    path.write_text(json.dumps(suite, indent=1))  # JSON is YAML
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(path), "--model", str(model),
                           "--data-root", str(_mirror(slices, run.mirror)), "--output", str(root / name)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return None if proc.returncode == 0 else f"evalkit run {name}: {proc.stderr[-3000:]}"


def _lm_eval(run: Run, slices: Slices, lm: Any, manager: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    import lm_eval

    with lm_eval_reads_mirror(_mirror(slices, run.lm_mirror)):
        out = lm_eval.simple_evaluate(model=lm, tasks=list(run.lm_tasks), task_manager=manager,
                                      log_samples=True, fewshot_random_seed=1234, verbosity="ERROR",
                                      **run.lm_options)
    assert out is not None
    return out["results"], out["samples"]


@pytest.fixture(scope="session")
def parity(tmp_path_factory: pytest.TempPathFactory, scripted_model_dir: Path, evalkit_cache: Path) -> ParityRun:
    """Both harnesses on the scripted model; evalkit through its CLI (one process per run, one after the
    other, in a thread), alongside lm-eval in-process."""
    if not (SHARED_DATA / "mmlu" / "data").is_dir():
        pytest.skip(f"the shared benchmark data is not at {SHARED_DATA}")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("parity")
    slices = make_slices(SHARED_DATA, root / "data", mmlu_rows=MMLU_ROWS)
    env = {**os.environ, "EVALKIT_HOME": str(root / "evalkit-home"), "EVALKIT_CACHE": str(evalkit_cache)}
    # The two harnesses mostly wait on Python, not on the (tiny) model: run them side by side.
    with ThreadPoolExecutor(1) as pool:
        evalkit = pool.submit(lambda: [_evalkit(n, r, slices, scripted_model_dir, root, env) for n, r in RUNS.items()])
        lm = HFLM(pretrained=str(scripted_model_dir), batch_size=8, dtype="float32", device="cpu")
        manager = TaskManager()  # its index of lm-eval's task files, built once
        lm_runs = {name: _lm_eval(run, slices, lm, manager) for name, run in RUNS.items()}
        errors = [e for e in evalkit.result() if e]
    assert not errors, errors[0]
    ek_results, ek_samples = {}, {}
    for name in RUNS:
        out = root / name
        ek_results[name] = json.loads((out / "results.json").read_text())["results"]
        ek_samples[name] = {p.name[len("samples_"): -len(".jsonl")]: [json.loads(x) for x in p.read_text().splitlines()]
                            for p in out.glob("samples_*.jsonl")}
    return ParityRun(slices, {n: r for n, (r, _) in lm_runs.items()}, {n: s for n, (_, s) in lm_runs.items()},
                     ek_results, ek_samples)


# -- comparisons ------------------------------------------------------------------------------------
def _by_doc(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(samples, key=lambda s: (s["doc_id"], s["filter"]))


def _arguments(sample: dict[str, Any]) -> list[list[Any]]:
    return [list(a) for a in sample["arguments"]]


def _assert_choices_match(where: str, lm: dict[str, Any], ek: dict[str, Any], metrics: tuple[str, ...]) -> None:
    assert _arguments(ek) == _arguments(lm), f"{where}: prompts differ"
    assert len(ek["filtered_resps"]) == len(lm["filtered_resps"]), where
    for i, ((lm_ll, lm_greedy), (ek_ll, ek_greedy)) in enumerate(zip(lm["filtered_resps"], ek["filtered_resps"])):
        assert abs(ek_ll - lm_ll) <= LL_TOLERANCE, f"{where} choice {i}: log-likelihood {ek_ll} vs lm-eval {lm_ll}"
        assert bool(ek_greedy) == bool(lm_greedy), f"{where} choice {i}: is_greedy"
    for metric in metrics:
        assert ek[metric] == lm[metric], f"{where}: {metric}"
    assert ek["target"] == lm["target"], f"{where}: target"


def _assert_results_match(parity: ParityRun, run: str, names: list[str]) -> None:
    for name in names:
        lm_block, ek_block = parity.lm_results[run][name], parity.ek_results[run].get(name)
        assert ek_block is not None, f"{run}: evalkit reports no result {name!r}"
        keys = [k for k in lm_block if "," in k and k.split(",")[0] not in ("sample_count",)]
        assert keys, name
        for key in keys:
            lm_value, ek_value = lm_block[key], ek_block.get(key)
            if lm_value == "N/A" or ek_value == "N/A":
                assert lm_value == ek_value, f"{run} {name} {key}: {ek_value} vs lm-eval {lm_value}"
            else:
                assert ek_value is not None and math.isclose(ek_value, float(lm_value), rel_tol=1e-9, abs_tol=1e-12), \
                    f"{run} {name} {key}: {ek_value} vs lm-eval {lm_value}"


@pytest.mark.parametrize("run", ["fewshot", "zeroshot", "multiturn", "singleturn"])
def test_mmlu_matches_lm_eval(parity: ParityRun, run: str) -> None:
    chat = run.endswith("turn")
    subjects = CHAT_SUBJECTS if chat else parity.slices.mmlu_subjects
    assert len(parity.slices.mmlu_subjects) == 57
    for subject in subjects:
        task = f"mmlu_{subject}"
        lm_samples, mine = _by_doc(parity.lm_samples[run][task]), _by_doc(parity.ek_samples[run][task])
        assert len(mine) == len(lm_samples) == (CHAT_LIMIT if chat else MMLU_ROWS), task
        for lm, ek in zip(lm_samples, mine):
            assert ek["doc"] == lm["doc"]
            _assert_choices_match(f"{run} {task} doc {lm['doc_id']}", lm, ek, ("acc",))
    groups = [] if chat else ["mmlu"] + [f"mmlu_{c}" for c in CATEGORIES]
    _assert_results_match(parity, run, groups + [f"mmlu_{s}" for s in subjects])


def test_mmlu_prompts_have_lm_eval_shape(parity: ParityRun) -> None:
    """Spot checks that the runs above covered what they claim to (not a second reference)."""
    five_shot = parity.ek_samples["fewshot"]["mmlu_abstract_algebra"][0]["arguments"][0]
    assert five_shot[0].startswith("The following are multiple choice questions (with answers) about abstract "
                                   "algebra.\n\n")
    assert five_shot[0].count("\nAnswer:") == 6 and five_shot[1] == " A"
    multiturn = parity.ek_samples["multiturn"]["mmlu_abstract_algebra"][0]["arguments"][0]
    assert multiturn[0].count("<|im_start|>assistant\n") == 6 and multiturn[1] == "A"
    single = parity.ek_samples["singleturn"]["mmlu_abstract_algebra"][0]["arguments"][0]
    assert single[0].count("<|im_start|>assistant\n") == 1 and single[0].count("\nAnswer:") == 6


@pytest.mark.parametrize("run", ["fewshot", "zeroshot", "local"])
def test_hellaswag_matches_lm_eval(parity: ParityRun, run: str) -> None:
    lm_samples, ek_samples = _by_doc(parity.lm_samples[run]["hellaswag"]), _by_doc(parity.ek_samples[run]["hellaswag"])
    assert len(ek_samples) == len(lm_samples) > 0
    for lm, ek in zip(lm_samples, ek_samples):
        for field in ("query", "choices", "gold"):
            assert ek["doc"][field] == lm["doc"][field], f"{run} doc {lm['doc_id']}: {field}"
        _assert_choices_match(f"{run} hellaswag doc {lm['doc_id']}", lm, ek, ("acc", "acc_norm"))
    _assert_results_match(parity, run, ["hellaswag"])


def test_hellaswag_runs_exercised_shots_and_the_hub_form(parity: ParityRun) -> None:
    """The 5-shot prompt holds five solved scenes; the hub rows were capitalised and cleaned of markers."""
    shots = parity.ek_samples["fewshot"]["hellaswag"][0]["arguments"][0][0]
    assert shots.count("\n\n") == 5
    docs = [s["doc"] for s in parity.ek_samples["zeroshot"]["hellaswag"]]
    assert all("[" not in d["query"] for d in docs) and any("[title]" in d["ctx_a"] for d in docs)
    assert all(d["ctx_b"][:1].islower() and d["ctx_b"].capitalize() in d["query"] for d in docs if d["ctx_b"])


@pytest.mark.parametrize("run", ["fewshot", "multiturn"])
def test_gsm8k_matches_lm_eval(parity: ParityRun, run: str) -> None:
    lm_samples, ek_samples = _by_doc(parity.lm_samples[run]["gsm8k"]), _by_doc(parity.ek_samples[run]["gsm8k"])
    assert [(s["doc_id"], s["filter"]) for s in ek_samples] == [(s["doc_id"], s["filter"]) for s in lm_samples]
    for lm, ek in zip(lm_samples, ek_samples):
        where = f"{run} gsm8k doc {lm['doc_id']} {lm['filter']}"
        (lm_context, lm_kwargs), = lm["arguments"]
        (ek_context, ek_kwargs), = ek["arguments"]
        assert ek_context == lm_context, f"{where}: prompt differs"
        assert ek_kwargs["until"] == lm_kwargs["until"]
        # gsm8k.yaml sets no max_gen_toks: lm-eval's model then generates at most its default, 256.
        assert ek_kwargs["max_gen_toks"] == lm_kwargs.get("max_gen_toks", 256)
        assert ek["resps"] == [lm["resps"][0][0]], f"{where}: generated text differs"
        assert ek["filtered_resps"] == lm["filtered_resps"], where
        assert ek["exact_match"] == lm["exact_match"], where
        assert ek["target"] == lm["target"], where
    _assert_results_match(parity, run, ["gsm8k"])


def test_gsm8k_run_exercised_stops_and_both_filters(parity: ParityRun) -> None:
    """The scripted model must make the comparison above meaningful: text cut at a stop string,
    and each filter extracting a different number."""
    by_filter = {s["filter"]: s for s in parity.ek_samples["fewshot"]["gsm8k"] if s["doc_id"] == 0}
    assert by_filter["strict-match"]["resps"] == [" The total is $1,234.\n#### 567; x=8 "]
    assert by_filter["strict-match"]["filtered_resps"] == ["567"]
    assert by_filter["flexible-extract"]["filtered_resps"] == ["8"]
