"""Fixtures of the evaluators' tests: a scripted tiny model and one parity run of lm-eval and evalkit
on the same model and data slices (shared by the parity tests); the HumanEval problems and a scripted
coder model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalkit.parity.lm_eval_tasks import (
    MMLU_SUBJECTS,
    Slices,
    make_slices,
    write_gsm8k_task,
    write_hellaswag_task,
    write_mmlu_tasks,
)
from tests.conftest import REPO, SHARED_DATA, save_scripted_model

# The scripted model's greedy text after ":" (a GSM8K prompt's last token). Every token differs,
# so each maps to exactly one successor.
SCRIPT = ": The total is $1,234.\n#### 567; x=8 Question"
MAX_GEN_TOKS = 32
CHAT_LIMIT = 3


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


@dataclass
class ParityRun:
    """lm-eval's results and samples, and evalkit's, keyed by task (and group) name."""

    slices: Slices
    lm_results: dict[str, dict[str, Any]]
    lm_samples: dict[str, list[dict[str, Any]]]
    ek_results: dict[str, dict[str, Any]]
    ek_samples: dict[str, list[dict[str, Any]]]


def _evalkit_suite(slices: Slices) -> str:
    root = slices.root
    hub = {split: [str(slices.mmlu_hub[s][split]) for s in MMLU_SUBJECTS] for split in ("test", "dev")}
    mmlu_folder = {"path": str(slices.mmlu_folder), "split": "test"}
    chat = {"apply_chat_template": True, "num_fewshot": 5}
    tasks = [
        {"name": "mmlu5", "evaluator": "mmlu", "dataset": mmlu_folder, "num_fewshot": 5},
        {"name": "mmlu0", "evaluator": "mmlu", "dataset": {"path": "json", "split": "test", "data_files": hub}},
        {"name": "mmlum", "evaluator": "mmlu", "dataset": mmlu_folder, "limit_per_subject": CHAT_LIMIT, **chat},
        {"name": "mmlus", "evaluator": "mmlu", "dataset": mmlu_folder, "limit_per_subject": CHAT_LIMIT, **chat,
         "fewshot_as_multiturn": False},
        {"name": "hellaswag_local", "evaluator": "hellaswag",
         "dataset": {"path": str(slices.hellaswag_folder), "split": "validation"}},
        {"name": "hellaswag_hub", "evaluator": "hellaswag",
         "dataset": {"path": "json", "split": "validation", "data_files": {"validation": str(slices.hellaswag_hub)}}},
        {"name": "gsm8k", "evaluator": "gsm8k", "dataset": {"path": str(slices.gsm8k_folder), "split": "test"}},
        {"name": "gsm8km", "evaluator": "gsm8k", "dataset": {"path": str(slices.gsm8k_folder), "split": "test"},
         "limit": CHAT_LIMIT, "apply_chat_template": True},
    ]
    suite = {"suite": "parity", "defaults": {"batch_size": 8, "seed": 1234,
                                             "generation": {"max_gen_toks": MAX_GEN_TOKS}}, "tasks": tasks}
    path = root / "parity.yaml"
    path.write_text(json.dumps(suite, indent=1))  # JSON is YAML
    return str(path)


def _lm_eval_runs(model_dir: Path, tasks_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(model_dir), batch_size=8, dtype="float32", device="cpu")
    manager = TaskManager(include_path=str(tasks_dir))
    common = {"model": lm, "task_manager": manager, "log_samples": True, "fewshot_random_seed": 1234,
              "gen_kwargs": f"max_gen_toks={MAX_GEN_TOKS}", "verbosity": "ERROR"}
    runs = [
        lm_eval.simple_evaluate(tasks=["mmlu5", "mmlu0", "hellaswag_local", "hellaswag_hub", "gsm8k_parity"],
                                **common),
        lm_eval.simple_evaluate(tasks=["mmlum", "gsm8km"], apply_chat_template=True, fewshot_as_multiturn=True,
                                limit=CHAT_LIMIT, **common),
        lm_eval.simple_evaluate(tasks=["mmlus"], apply_chat_template=True, fewshot_as_multiturn=False,
                                limit=CHAT_LIMIT, **common),
    ]
    results: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    for run in runs:
        results.update(run["results"])
        samples.update(run["samples"])
    # lm-eval's gsm8k task name is taken; ours reads local files under another name.
    results["gsm8k"], samples["gsm8k"] = results.pop("gsm8k_parity"), samples.pop("gsm8k_parity")
    return results, samples


@pytest.fixture(scope="session")
def parity(tmp_path_factory: pytest.TempPathFactory, scripted_model_dir: Path, evalkit_cache: Path) -> ParityRun:
    """Both harnesses on the scripted model; evalkit through its CLI, alongside lm-eval in-process."""
    if not (SHARED_DATA / "mmlu" / "data").is_dir():
        pytest.skip(f"the shared benchmark data is not at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("parity")
    slices = make_slices(SHARED_DATA, root)
    tasks_dir = root / "lm_eval_tasks"
    for prefix, shots in (("mmlu5", 5), ("mmlu0", 0), ("mmlum", 5), ("mmlus", 5)):
        write_mmlu_tasks(tasks_dir, prefix, slices, shots)
    write_hellaswag_task(tasks_dir, "hellaswag_local", slices.hellaswag_as_hub)
    write_hellaswag_task(tasks_dir, "hellaswag_hub", slices.hellaswag_hub)
    write_gsm8k_task(tasks_dir, "gsm8k_parity", slices)
    write_gsm8k_task(tasks_dir, "gsm8km", slices)

    out = root / "evalkit-out"
    env = {**os.environ, "EVALKIT_HOME": str(root / "evalkit-home"), "EVALKIT_CACHE": str(evalkit_cache)}
    # The two harnesses mostly wait on Python, not on the (tiny) model: run them side by side.
    evalkit = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", _evalkit_suite(slices), "--model",
                                str(scripted_model_dir), "--output", str(out)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lm_results, lm_samples = _lm_eval_runs(scripted_model_dir, tasks_dir)
    except BaseException:
        evalkit.kill()
        evalkit.communicate()
        raise
    _, stderr = evalkit.communicate(timeout=600)
    assert evalkit.returncode == 0, stderr[-3000:]
    ek_results = json.loads((out / "results.json").read_text())["results"]
    ek_samples = {p.name[len("samples_"): -len(".jsonl")]: [json.loads(line) for line in p.read_text().splitlines()]
                  for p in out.glob("samples_*.jsonl")}
    return ParityRun(slices, lm_results, lm_samples, ek_results, ek_samples)


# -- HumanEval: the problems, and a tiny model that writes one real solution -----------------------

# After a prompt's last token ("\n", every HumanEval prompt ends with it) the scripted model writes
# these tokens, then EOS: "    return number % 1.0", HumanEval/2's solution (truncate_number).
SCRIPT_TOKENS = ["\n", "   ", " return", " number", " %", " ", "1", ".", "0"]
SCRIPTED_COMPLETION = "    return number % 1.0"


@pytest.fixture(scope="session")
def problems() -> list[dict[str, Any]]:
    from evalkit.parity.lm_eval_humaneval import packaged_problems

    return packaged_problems()


@pytest.fixture(scope="session")
def scripted_coder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny random Llama with an untied output layer that makes greedy decoding follow the script.

    A random model repeats one token, so every completion fails and pass@1 agrees trivially. Here
    the output row of each script token is the input embedding of the token before it (EOS after
    the last), so on every problem greedy decoding writes ``SCRIPTED_COMPLETION`` and stops: it
    passes HumanEval/2 and fails the others.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = []
    for piece in SCRIPT_TOKENS:
        encoded = tokenizer.encode(piece, add_special_tokens=False)
        assert len(encoded) == 1, (piece, encoded)
        ids.append(encoded[0])
    ids.append(tokenizer.eos_token_id)
    return save_scripted_model(tiny_model_dir, ids, tmp_path_factory.mktemp("scripted-coder"))
