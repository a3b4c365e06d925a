"""lm-evaluation-harness and evalkit, one after the other, on the same model, data and batch size.

    .venv/bin/python bench/vs_lm_eval.py --task mmlu|hellaswag|gsm8k|all [--model smollm2-135m-instruct]
        [--batch-size 8] [--mmlu-per-subject N] [--hellaswag N] [--gsm8k N] [--keep DIR]

For each task it prints both wall times, each of a whole process started from scratch (interpreter,
imports, model loading, evaluation): lm-eval's ``simple_evaluate`` in a child process of this
script, and ``evalkit run`` with an empty store, so nothing is cached. Then their ratio and the
item-by-item agreement: the same predicted choice (mmlu, hellaswag) or the identical generated
text (gsm8k), plus the largest log-likelihood difference. Both read the same local slices of
../shared/data (lm-eval through task files that include its own task YAMLs; see
:mod:`evalkit.parity.lm_eval_tasks`), in float32 on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evalkit.parity.lm_eval_tasks import (
    make_slices,
    write_gsm8k_task,
    write_hellaswag_task,
    write_mmlu_tasks,
)

REPO = Path(__file__).resolve().parents[1]

SHARED = REPO.parent / "shared" / "data"
MMLU_SUBJECTS = {"abstract_algebra": "stem", "anatomy": "stem", "astronomy": "stem", "business_ethics": "other"}


def run_lm_eval(model_dir: Path, tasks_dir: Path, task: str, batch_size: int, num_fewshot: int | None,
                out: Path) -> float:
    """lm-eval in its own process, as a user runs it; its samples go to ``out`` as JSON."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--lm-eval-child", json.dumps(
        {"model": str(model_dir), "tasks": str(tasks_dir), "task": task, "batch_size": batch_size,
         "num_fewshot": num_fewshot, "out": str(out)})], cwd=REPO, check=True)
    return time.perf_counter() - start


def lm_eval_child(spec: dict[str, Any]) -> None:
    from evalkit.parity import require_lm_eval

    lm_eval = require_lm_eval()
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=spec["model"], batch_size=spec["batch_size"], dtype="float32", device="cpu")
    result = lm_eval.simple_evaluate(model=lm, tasks=[spec["task"]],
                                     task_manager=TaskManager(include_path=spec["tasks"]),
                                     num_fewshot=spec["num_fewshot"], log_samples=True, fewshot_random_seed=1234,
                                     verbosity="ERROR")
    Path(spec["out"]).write_text(json.dumps(result["samples"], default=str))


def run_evalkit(model: str, suite: Path, batch_size: int, home: Path, out: Path) -> float:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(suite), "--model", model, "--output", str(out),
                    "--batch-size", str(batch_size)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def compare_choices(lm_docs: list[dict[str, Any]], ek_docs: list[dict[str, Any]]) -> tuple[int, int, str]:
    """Items with the same predicted choice, and how far the log-likelihoods are apart."""
    agree, deltas = 0, []
    for lm, ek in zip(lm_docs, ek_docs, strict=True):
        lm_ll = [r[0][0] for r in lm["resps"]]
        ek_ll = [r[0] for r in ek["resps"]]
        agree += int(max(range(len(lm_ll)), key=lm_ll.__getitem__) == max(range(len(ek_ll)), key=ek_ll.__getitem__))
        deltas.append(max(abs(a - b) for a, b in zip(lm_ll, ek_ll)))
    over = sum(d > 1e-3 for d in deltas)
    return agree, len(lm_docs), f"max |Δ loglik| {max(deltas):.2e}, items over 1e-3: {over}"


def report(name: str, t_lm: float, t_ek: float, agree: int, n: int, extra: str = "") -> None:
    print(f"{name:10} items {n:4}  lm-eval {t_lm:7.1f} s  evalkit {t_ek:7.1f} s  speed-up {t_lm / t_ek:5.2f}x  "
          f"agreement {agree}/{n} = {100 * agree / n:.1f}%  {extra}", flush=True)


def bench(task: str, args: argparse.Namespace, model_dir: Path, tmp: Path) -> None:
    slices = make_slices(SHARED, tmp / "data", mmlu_rows=args.mmlu_per_subject, hellaswag_rows=args.hellaswag,
                         hellaswag_hub_rows=0, gsm8k_rows=args.gsm8k, mmlu_subjects=MMLU_SUBJECTS)
    tasks_dir = tmp / "lm_eval_tasks"
    suite = tmp / f"{task}.yaml"
    if task == "mmlu":
        write_mmlu_tasks(tasks_dir, "mmlu_bench", slices, num_fewshot=5, subjects=MMLU_SUBJECTS)
        lm_task, fewshot = "mmlu_bench", 5
        suite.write_text(f"suite: bench\ntasks:\n  - name: mmlu_bench\n    evaluator: mmlu\n"
                         f"    dataset: {{path: {slices.mmlu_folder}}}\n    num_fewshot: 5\n"
                         f"    subjects: [{', '.join(MMLU_SUBJECTS)}]\n")
    elif task == "hellaswag":
        write_hellaswag_task(tasks_dir, "hellaswag_bench", slices.hellaswag_as_hub)
        lm_task, fewshot = "hellaswag_bench", 0
        suite.write_text(f"suite: bench\ntasks:\n  - name: hellaswag_bench\n    evaluator: hellaswag\n"
                         f"    dataset: {{path: {slices.hellaswag_folder}}}\n")
    else:
        write_gsm8k_task(tasks_dir, "gsm8k_bench", slices)
        lm_task, fewshot = "gsm8k_bench", 5
        suite.write_text(f"suite: bench\ntasks:\n  - name: gsm8k_bench\n    evaluator: gsm8k\n"
                         f"    dataset: {{path: {slices.gsm8k_folder}, split: test}}\n")
    t_lm = run_lm_eval(model_dir, tasks_dir, lm_task, args.batch_size, fewshot, tmp / "lm_eval_samples.json")
    samples = json.loads((tmp / "lm_eval_samples.json").read_text())
    t_ek = run_evalkit(args.model, suite, args.batch_size, tmp / "home", tmp / f"out-{task}")
    ek_docs = _jsonl(tmp / f"out-{task}" / f"samples_{lm_task}.jsonl")
    if task == "mmlu":
        lm_docs = [d for name in sorted(samples) if name.startswith("mmlu_bench_") for d in samples[name]]
        # The choices belong to the key: some subjects repeat a question with other choices (astronomy).
        def key(d: dict[str, Any]) -> tuple[str, str, str]:
            return d["doc"]["subject"], d["doc"]["question"], json.dumps(list(d["doc"]["choices"]))

        where: dict[tuple[str, str, str], list[int]] = {}
        for i, d in enumerate(lm_docs):
            where.setdefault(key(d), []).append(i)
        # Items equal in all three are interchangeable: they pair up in order.
        ek_docs = [d for _, d in sorted(((where[key(d)].pop(0), d) for d in ek_docs), key=lambda p: p[0])]
        report(task, t_lm, t_ek, *compare_choices(lm_docs, ek_docs))
    elif task == "hellaswag":
        lm_docs = sorted(samples[lm_task], key=lambda d: d["doc_id"])
        report(task, t_lm, t_ek, *compare_choices(lm_docs, ek_docs))
    else:
        lm_docs = sorted((d for d in samples[lm_task] if d["filter"] == "strict-match"), key=lambda d: d["doc_id"])
        ek_docs = [d for d in ek_docs if d["filter"] == "strict-match"]
        same = sum(lm["resps"][0][0] == ek["resps"][0] for lm, ek in zip(lm_docs, ek_docs, strict=True))
        report(task, t_lm, t_ek, same, len(lm_docs), "(identical generated text)")


def main() -> None:
    if sys.argv[1:2] == ["--lm-eval-child"]:
        lm_eval_child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["mmlu", "hellaswag", "gsm8k", "all"], default="all")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mmlu-per-subject", type=int, default=None, help="test questions per subject (all)")
    parser.add_argument("--hellaswag", type=int, default=500)
    parser.add_argument("--gsm8k", type=int, default=40)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep both sides' samples, slices and task files in DIR/TASK (default: a temp folder)")
    args = parser.parse_args()
    tasks = ["mmlu", "hellaswag", "gsm8k"] if args.task == "all" else [args.task]
    if args.keep and any((args.keep / task).exists() for task in tasks):
        parser.error(f"--keep {args.keep}: already holds a result folder for {', '.join(tasks)}; choose a new folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evalkit.cli import install_environment
    from evalkit.models import resolve_model

    install_environment()  # this script is an edge: evalkit reads the environment from here on
    model_dir = resolve_model(args.model).path
    assert model_dir is not None
    for task in tasks:
        if args.keep:
            (args.keep / task).mkdir(parents=True)
            bench(task, args, model_dir, (args.keep / task).resolve())
            continue
        with tempfile.TemporaryDirectory() as tmp:
            bench(task, args, model_dir, Path(tmp))


if __name__ == "__main__":
    main()
