"""lm-evaluation-harness and evalkit, one after the other, on the same model, data and batch size.

    .venv/bin/python bench/vs_lm_eval.py --task mmlu|hellaswag|gsm8k|all [--model smollm2-135m-instruct]
        [--batch-size 8] [--mmlu-per-subject N] [--hellaswag N] [--gsm8k N]

For each task it prints both wall times (lm-eval: model construction + simple_evaluate; evalkit:
the whole `evalkit run` process with an empty store, so nothing is cached), their ratio, and the
item-by-item agreement: the same predicted choice (mmlu, hellaswag) or the identical generated
text (gsm8k), plus the largest log-likelihood difference. Both read the same local slices of
../shared/data (lm-eval through task files that include its own task YAMLs; see
tests/evaluators/lm_eval_tasks.py), in float32 on the CPU.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.evaluators.lm_eval_tasks import (  # noqa: E402  (the repo root must be importable first)
    make_slices,
    write_gsm8k_task,
    write_hellaswag_task,
    write_mmlu_tasks,
)

SHARED = REPO.parent / "shared" / "data"
MMLU_SUBJECTS = {"abstract_algebra": "stem", "anatomy": "stem", "astronomy": "stem", "business_ethics": "other"}


def run_lm_eval(model_dir: Path, tasks_dir: Path, task: str, batch_size: int, num_fewshot: int | None,
                limit: int | None) -> tuple[float, dict[str, list[dict[str, Any]]]]:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    start = time.perf_counter()
    lm = HFLM(pretrained=str(model_dir), batch_size=batch_size, dtype="float32", device="cpu")
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=str(tasks_dir)),
                                  num_fewshot=num_fewshot, limit=limit, log_samples=True, fewshot_random_seed=1234,
                                  verbosity="ERROR")
    return time.perf_counter() - start, out["samples"]


def run_evalkit(model: str, suite: Path, batch_size: int, home: Path, out: Path) -> float:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(suite), "--model", model, "--output", str(out),
                    "--batch-size", str(batch_size)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def compare_choices(lm_docs: list[dict[str, Any]], ek_docs: list[dict[str, Any]]) -> tuple[int, int, float]:
    agree, worst = 0, 0.0
    for lm, ek in zip(lm_docs, ek_docs, strict=True):
        lm_ll = [r[0][0] for r in lm["resps"]]
        ek_ll = [r[0] for r in ek["resps"]]
        agree += int(max(range(len(lm_ll)), key=lm_ll.__getitem__) == max(range(len(ek_ll)), key=ek_ll.__getitem__))
        worst = max(worst, *(abs(a - b) for a, b in zip(lm_ll, ek_ll)))
    return agree, len(lm_docs), worst


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
    t_lm, samples = run_lm_eval(model_dir, tasks_dir, lm_task, args.batch_size, fewshot, None)
    t_ek = run_evalkit(args.model, suite, args.batch_size, tmp / "home", tmp / f"out-{task}")
    ek_docs = _jsonl(tmp / f"out-{task}" / f"samples_{lm_task}.jsonl")
    if task == "mmlu":
        lm_docs = [d for name in sorted(samples) if name.startswith("mmlu_bench_") for d in samples[name]]
        order = {(d["doc"]["subject"], d["doc"]["question"]): i for i, d in enumerate(lm_docs)}
        ek_docs.sort(key=lambda d: order[(d["doc"]["subject"], d["doc"]["question"])])
        agree, n, worst = compare_choices(lm_docs, ek_docs)
        report(task, t_lm, t_ek, agree, n, f"max |Δ loglik| {worst:.2e}")
    elif task == "hellaswag":
        lm_docs = sorted(samples[lm_task], key=lambda d: d["doc_id"])
        agree, n, worst = compare_choices(lm_docs, ek_docs)
        report(task, t_lm, t_ek, agree, n, f"max |Δ loglik| {worst:.2e}")
    else:
        lm_docs = sorted((d for d in samples[lm_task] if d["filter"] == "strict-match"), key=lambda d: d["doc_id"])
        ek_docs = [d for d in ek_docs if d["filter"] == "strict-match"]
        same = sum(lm["resps"][0][0] == ek["resps"][0] for lm, ek in zip(lm_docs, ek_docs, strict=True))
        report(task, t_lm, t_ek, same, len(lm_docs), "(identical generated text)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["mmlu", "hellaswag", "gsm8k", "all"], default="all")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mmlu-per-subject", type=int, default=None, help="test questions per subject (all)")
    parser.add_argument("--hellaswag", type=int, default=500)
    parser.add_argument("--gsm8k", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evalkit.models import resolve_model

    model_dir = resolve_model(args.model).path
    assert model_dir is not None
    for task in ["mmlu", "hellaswag", "gsm8k"] if args.task == "all" else [args.task]:
        with tempfile.TemporaryDirectory() as tmp:
            bench(task, args, model_dir, Path(tmp))


if __name__ == "__main__":
    main()
