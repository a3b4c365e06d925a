"""lm-evaluation-harness and evalkit, one after the other, on the same model, data and batch size.

    .venv/bin/python bench/vs_lm_eval.py --task mmlu|hellaswag|gsm8k|all [--model smollm2-135m-instruct]
        [--batch-size 8] [--mmlu-per-subject N] [--hellaswag N] [--gsm8k N] [--keep DIR]

For each task it prints both wall times, each of a whole process started from scratch (interpreter,
imports, model loading, evaluation): lm-eval's ``simple_evaluate`` in a child process of this
script, and ``evalkit run`` with an empty store, so nothing is cached. Then their ratio and the
item-by-item agreement: the same predicted choice (mmlu, hellaswag) or the identical generated
text (gsm8k), plus the largest log-likelihood difference. Both run their own task files (evalkit the
shipped ones in suites/tasks, lm-eval its installed ones) on the same local slices of ../shared/data,
a ``--data-root`` mirror that lm-eval reads through :func:`evalkit.parity.lm_eval_tasks.lm_eval_reads_mirror`,
in float32 on the CPU.
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

from evalkit.parity.lm_eval_tasks import make_slices

REPO = Path(__file__).resolve().parents[1]

SHARED = REPO.parent / "shared" / "data"
MMLU_SUBJECTS = ["abstract_algebra", "anatomy", "astronomy", "business_ethics"]


def run_lm_eval(model_dir: Path, mirror: Path, tasks: list[str], batch_size: int, num_fewshot: int | None,
                out: Path) -> float:
    """lm-eval in its own process, as a user runs it; its samples go to ``out`` as JSON."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--lm-eval-child", json.dumps(
        {"model": str(model_dir), "mirror": str(mirror), "tasks": tasks, "batch_size": batch_size,
         "num_fewshot": num_fewshot, "out": str(out)})], cwd=REPO, check=True)
    return time.perf_counter() - start


def lm_eval_child(spec: dict[str, Any]) -> None:
    from evalkit.parity import require_lm_eval
    from evalkit.parity.lm_eval_tasks import lm_eval_reads_mirror

    lm_eval = require_lm_eval()
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=spec["model"], batch_size=spec["batch_size"], dtype="float32", device="cpu")
    with lm_eval_reads_mirror(Path(spec["mirror"])):
        result = lm_eval.simple_evaluate(model=lm, tasks=spec["tasks"], task_manager=TaskManager(),
                                         num_fewshot=spec["num_fewshot"], log_samples=True, fewshot_random_seed=1234,
                                         verbosity="ERROR")
    Path(spec["out"]).write_text(json.dumps(result["samples"], default=str))


def run_evalkit(model: str, suite: Path, mirror: Path, batch_size: int, home: Path, out: Path) -> float:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(suite), "--model", model, "--output", str(out),
                    "--data-root", str(mirror), "--batch-size", str(batch_size)], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
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
    slices = make_slices(SHARED, tmp / "data", mmlu_rows=args.mmlu_per_subject, mmlu_subjects=MMLU_SUBJECTS,
                         hellaswag_rows=args.hellaswag, hellaswag_train_rows=0, gsm8k_rows=args.gsm8k)
    suite = tmp / f"{task}.yaml"
    if task == "mmlu":
        lm_tasks, fewshot, mirror, lm_mirror = [f"mmlu_{s}" for s in MMLU_SUBJECTS], 5, slices.hub, slices.hub
    elif task == "hellaswag":  # evalkit reads the ctx-only copy, lm-eval the same rows in the hub's shape
        lm_tasks, fewshot, mirror, lm_mirror = ["hellaswag"], 0, slices.local, slices.local_as_hub
    else:
        lm_tasks, fewshot, mirror, lm_mirror = ["gsm8k"], 5, slices.hub, slices.hub
    suite.write_text("suite: bench\ntasks:\n" + "".join(f"  - task: {t}\n    num_fewshot: {fewshot}\n"
                                                          for t in lm_tasks))
    t_lm = run_lm_eval(model_dir, lm_mirror, lm_tasks, args.batch_size, fewshot, tmp / "lm_eval_samples.json")
    samples = json.loads((tmp / "lm_eval_samples.json").read_text())
    t_ek = run_evalkit(args.model, suite, mirror, args.batch_size, tmp / "home", tmp / f"out-{task}")
    lm_docs = [d for name in lm_tasks for d in sorted(samples[name], key=lambda d: (d["doc_id"], d["filter"]))]
    ek_docs = [d for name in lm_tasks for d in _jsonl(tmp / f"out-{task}" / f"samples_{name}.jsonl")]
    if task in ("mmlu", "hellaswag"):
        report(task, t_lm, t_ek, *compare_choices(lm_docs, ek_docs))
    else:
        lm_docs = [d for d in lm_docs if d["filter"] == "strict-match"]
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
