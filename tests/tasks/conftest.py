"""Fixtures of the task-file tests: one parity run per tier of lm-eval 0.4.13 and evalkit on the same
task files, model and local data (see :mod:`evalkit.parity.task_files`).

- tier (a), in the default run: the tiny random Llama, every shipped task that ../shared/data has
  data for on its first documents, each both as our shipped file and as lm-eval's own file, plus
  25-shot ARC-Challenge on a few documents;
- tier (b), ``@pytest.mark.slow`` (run with ``-m slow``): SmolLM2-135M-Instruct, our shipped files on
  200 documents (TruthfulQA 50), lm-eval's own WinoGrande file, 25-shot ARC-Challenge on 50 documents.

Each tier runs lm-eval once, for all its tasks, in a child process (``bench/vs_lm_eval.py
--lm-eval-child``: the ``!builtin`` tag is taught to lm-eval's loader there only), and evalkit once,
through its CLI on the folder of task files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalkit.parity.task_files import TASKS, Variant, WrittenTask, write_task
from tests.conftest import REPO, SHARED_DATA


@dataclass(frozen=True)
class Planned:
    """One task of a tier: a key of TASKS, which file it includes, its documents and shots."""

    task: str
    variant: Variant
    rows: int
    num_fewshot: int | None = None

    @property
    def name(self) -> str:
        prefix = "ek" if self.variant == "shipped" else "lm"
        return f"{prefix}_{self.task}" + (f"_{self.num_fewshot}" if self.num_fewshot else "")


TIER_A: tuple[Planned, ...] = (
    *(Planned(task, "shipped", 30) for task in TASKS),
    *(Planned(task, "lm_eval", 30) for task in TASKS),
    Planned("arc_challenge", "shipped", 4, num_fewshot=25),
)

# Documents per task in tier (b), sized so the tier takes about 12 minutes on two quiet cores, most of
# it lm-eval's: TruthfulQA feeds it ~15 times ARC-Easy's tokens per document (a six-question preamble
# before every choice), 25-shot ARC-Challenge ~40 times. (200 TruthfulQA documents each took 22 minutes.)
TIER_B_DOCS = {"truthfulqa_mc1": 50, "truthfulqa_mc2": 50}
TIER_B: tuple[Planned, ...] = (
    *(Planned(task, "shipped", TIER_B_DOCS.get(task, 200)) for task in TASKS),
    Planned("winogrande", "lm_eval", 200),
    Planned("arc_challenge", "shipped", 50, num_fewshot=25),
)


@dataclass
class TaskParityRun:
    """Both harnesses' samples and results, by task name, and how long the tier took."""

    tasks: dict[str, WrittenTask]
    lm_samples: dict[str, list[dict[str, Any]]]
    lm_results: dict[str, dict[str, Any]]
    ek_samples: dict[str, list[dict[str, Any]]]
    ek_results: dict[str, dict[str, Any]]
    seconds: float


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tier (b) runs only when asked for (``-m slow``); the default run is tier (a)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    parity = Path(__file__).with_name("test_task_parity.py")
    skip = pytest.mark.skip(reason="SmolLM2 parity tier: run with -m slow")
    for item in items:
        if item.get_closest_marker("slow") and Path(str(item.path)) == parity:
            item.add_marker(skip)


def _require_data() -> None:
    missing = [f for spec in TASKS.values() for f in spec.splits.values() if not (SHARED_DATA / f).is_file()]
    if missing:
        pytest.skip(f"the shared benchmark data is not at {SHARED_DATA} (missing {missing[0]})")


def run_tier(root: Path, plan: tuple[Planned, ...], lm_model: Path, ek_model: str, evalkit_cache: Path, *,
             side_by_side: bool) -> TaskParityRun:
    """Write the tier's task files into ``root/tasks`` and run both harnesses on them.

    ``side_by_side``: both at once, one thread each (the tiny model, where Python dominates); else
    lm-eval, then evalkit, each with every core (a real model, where lm-eval's compute dominates).
    Never more torch threads than cores: they spin-wait for each other (a tier took ten times longer so).
    """
    folder = root / "tasks"
    written = {p.name: write_task(folder, SHARED_DATA, p.task, variant=p.variant, name=p.name, rows=p.rows,
                                  num_fewshot=p.num_fewshot) for p in plan}
    env = {**os.environ, "EVALKIT_HOME": str(root / "evalkit-home"), "EVALKIT_CACHE": str(evalkit_cache),
           "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if side_by_side:
        env["OMP_NUM_THREADS"] = "1"
    spec = {"model": str(lm_model), "tasks_dir": str(folder), "tasks": list(written), "batch_size": 8,
            "num_fewshot": None, "out": str(root / "lm_samples.json"), "results_out": str(root / "lm_results.json"),
            "builtin_tag": True}
    out = root / "evalkit-out"
    lm_command = [sys.executable, str(REPO / "bench" / "vs_lm_eval.py"), "--lm-eval-child", json.dumps(spec)]
    ek_command = [sys.executable, "-m", "evalkit.cli", "run", str(folder), "--model", ek_model, "--output", str(out),
                  "--batch-size", "8"]
    start = time.perf_counter()
    if not side_by_side:
        lm = subprocess.run(lm_command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        assert lm.returncode == 0, lm.stderr[-3000:]
    evalkit = subprocess.Popen(ek_command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    if side_by_side:
        try:
            lm = subprocess.run(lm_command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        except BaseException:
            evalkit.kill()
            evalkit.communicate()
            raise
    _, stderr = evalkit.communicate(timeout=1800)
    seconds = time.perf_counter() - start
    assert lm.returncode == 0, lm.stderr[-3000:]
    assert evalkit.returncode == 0, stderr[-3000:]
    ek_samples = {name: [json.loads(line) for line in (out / f"samples_{name}.jsonl").read_text().splitlines()]
                  for name in written}
    return TaskParityRun(written, json.loads((root / "lm_samples.json").read_text()),
                         json.loads((root / "lm_results.json").read_text()), ek_samples,
                         json.loads((out / "results.json").read_text())["results"], seconds)


@pytest.fixture(scope="session")
def long_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny random Llama with a 2048-token window, so 25-shot ARC-Challenge prompts fit untruncated
    (rotary positions need no retraining; only the declared window changes)."""
    out = tmp_path_factory.mktemp("tiny-llama-2048") / "model"
    shutil.copytree(tiny_model_dir, out)
    config = json.loads((out / "config.json").read_text())
    config["max_position_embeddings"] = 2048
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


@pytest.fixture(scope="session")
def tier_a(tmp_path_factory: pytest.TempPathFactory, long_tiny_model_dir: Path, evalkit_cache: Path) -> TaskParityRun:
    _require_data()
    return run_tier(tmp_path_factory.mktemp("tier-a"), TIER_A, long_tiny_model_dir, str(long_tiny_model_dir),
                    evalkit_cache, side_by_side=True)


@pytest.fixture(scope="session")
def tier_b(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path, evalkit_cache: Path) -> TaskParityRun:
    _require_data()
    return run_tier(tmp_path_factory.mktemp("tier-b"), TIER_B, default_model_dir, "smollm2-135m-instruct",
                    evalkit_cache, side_by_side=False)
