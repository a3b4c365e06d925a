"""lm-evaluation-harness and evalkit, one after the other, on the same model, data and batch size.

    .venv/bin/python bench/vs_lm_eval.py --task mmlu|hellaswag|gsm8k|all [--model smollm2-135m-instruct]
        [--batch-size 8] [--mmlu-per-subject N] [--hellaswag N] [--gsm8k N] [--keep DIR]
    .venv/bin/python bench/vs_lm_eval.py --task arc_easy|arc_challenge|truthfulqa_mc2|boolq|piqa|winogrande|task-files
        [--docs N] [--model ...] [--batch-size 8] [--keep DIR]

For each task it prints both wall times, each of a whole process started from scratch (interpreter,
imports, model loading, evaluation): lm-eval's ``simple_evaluate`` in a child process of this
script, and ``evalkit run`` with an empty store, so nothing is cached. Then their ratio and the
item-by-item agreement: the same predicted choice (mmlu, hellaswag) or the identical generated
text (gsm8k), plus the largest log-likelihood difference. Both run their own task files (evalkit the
shipped ones in suites/tasks, lm-eval its installed ones) on the same local slices of ../shared/data,
a ``--data-root`` mirror that lm-eval reads through :func:`evalkit.parity.lm_eval_tasks.lm_eval_reads_mirror`,
in float32 on the CPU.

The task-file benchmarks (arc_easy, 25-shot arc_challenge, truthfulqa_mc2, boolq, piqa, winogrande;
``task-files`` runs all six) run our shipped task file in both harnesses, on the first ``--docs``
documents of the local data (:mod:`evalkit.parity.task_files`). Their line also gives the token
counts: the tokens lm-eval feeds the model and the tokens evalkit must compute with its shared
prefixes, and their ratio, the speed-up that the token counts alone allow; and the machine's
1-minute load average before lm-eval, between the two and after evalkit (on a shared machine other
work slows either side: compare times only from quiet runs).
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
from evalkit.parity.task_files import TokenCounts, token_counts, write_task

REPO = Path(__file__).resolve().parents[1]

SHARED = REPO.parent / "shared" / "data"
MMLU_SUBJECTS = ["abstract_algebra", "anatomy", "astronomy", "business_ethics"]

#: Shipped task -> (shots, documents by default). ARC-Challenge in its Open LLM Leaderboard setting (25 shots).
TASK_FILES: dict[str, tuple[int | None, int]] = {
    "arc_easy": (None, 500), "arc_challenge": (25, 50), "truthfulqa_mc2": (None, 300),
    "boolq": (None, 300), "piqa": (None, 500), "winogrande": (None, 500),
}


def run_lm_eval(model_dir: Path, tasks: list[str], batch_size: int, num_fewshot: int | None, out: Path, *,
                mirror: Path | None = None, tasks_dir: Path | None = None, builtin_tag: bool = False) -> float:
    """lm-eval in its own process, as a user runs it; its samples go to ``out`` as JSON.

    ``mirror``: lm-eval's own task files read the hub ids from this ``--data-root`` mirror; ``tasks_dir``:
    extra task files (an include path); ``builtin_tag``: lm-eval reads ``!builtin`` (our shipped files)
    as the lm-eval helper it stands for.
    """
    start = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--lm-eval-child", json.dumps(
        {"model": str(model_dir), "mirror": str(mirror) if mirror else None,
         "tasks_dir": str(tasks_dir) if tasks_dir else None, "tasks": tasks, "batch_size": batch_size,
         "num_fewshot": num_fewshot, "out": str(out), "builtin_tag": builtin_tag})], cwd=REPO, check=True)
    return time.perf_counter() - start


def lm_eval_child(spec: dict[str, Any]) -> None:
    import contextlib

    from evalkit.parity import require_lm_eval
    from evalkit.parity.lm_eval_tasks import lm_eval_reads_mirror

    lm_eval = require_lm_eval()
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    if spec.get("builtin_tag"):
        from evalkit.parity.task_files import install_builtin_tag

        install_builtin_tag()
    lm = HFLM(pretrained=spec["model"], batch_size=spec["batch_size"], dtype="float32", device="cpu")
    reading = lm_eval_reads_mirror(Path(spec["mirror"])) if spec.get("mirror") else contextlib.nullcontext()
    with reading:
        result = lm_eval.simple_evaluate(model=lm, tasks=spec["tasks"],
                                         task_manager=TaskManager(include_path=spec.get("tasks_dir")),
                                         num_fewshot=spec["num_fewshot"], log_samples=True, fewshot_random_seed=1234,
                                         verbosity="ERROR")
    Path(spec["out"]).write_text(json.dumps(result["samples"], default=str))
    if spec.get("results_out"):
        Path(spec["results_out"]).write_text(json.dumps(result["results"], default=str))


def run_evalkit(model: str, suite: Path, mirror: Path | None, batch_size: int, home: Path, out: Path) -> float:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    mirror_flag = ["--data-root", str(mirror)] if mirror else []
    subprocess.run([sys.executable, "-m", "evalkit.cli", "run", str(suite), "--model", model, "--output", str(out),
                    *mirror_flag, "--batch-size", str(batch_size)], cwd=REPO, env=env, check=True,
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
    print(f"{name:22} items {n:4}  lm-eval {t_lm:7.1f} s  evalkit {t_ek:7.1f} s  speed-up {t_lm / t_ek:5.2f}x  "
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
    t_lm = run_lm_eval(model_dir, lm_tasks, args.batch_size, fewshot, tmp / "lm_eval_samples.json", mirror=lm_mirror)
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


def request_tokens(model_dir: Path, samples: list[dict[str, Any]]) -> TokenCounts:
    """:func:`token_counts` of every log-likelihood request in ``samples``, tokenized as both harnesses do."""
    from transformers import AutoConfig, AutoTokenizer

    from evalkit.engine.windows import encode_pair

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    max_length = next(int(v) for v in (getattr(config, a, None) for a in ("n_positions", "max_position_embeddings",
                                                                          "n_ctx")) if v)
    first = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    bos_text = str(tokenizer.decode([first]))

    def encode(text: str) -> list[int]:  # as evalkit.engine.hf.HFBackend.encode (equal to lm-eval's here)
        return tokenizer.encode(text, add_special_tokens=not text.startswith(bos_text))

    pairs = [encode_pair(encode, context, continuation) for d in samples for context, continuation in d["arguments"]]
    return token_counts(pairs, max_length)


def bench_task_file(task: str, args: argparse.Namespace, model_dir: Path, tmp: Path) -> None:
    """Our shipped task file in both harnesses, on the first ``--docs`` documents."""
    shots, default_docs = TASK_FILES[task]
    written = write_task(tmp / "tasks", SHARED, task, rows=args.docs or default_docs, num_fewshot=shots)
    load = [os.getloadavg()[0]]  # other work on the machine skews both times: shown with them
    t_lm = run_lm_eval(model_dir, [written.name], args.batch_size, None, tmp / "lm_eval_samples.json",
                       tasks_dir=tmp / "tasks", builtin_tag=True)
    samples = json.loads((tmp / "lm_eval_samples.json").read_text())
    load.append(os.getloadavg()[0])
    t_ek = run_evalkit(args.model, written.path, None, args.batch_size, tmp / "home", tmp / f"out-{task}")
    load.append(os.getloadavg()[0])
    ek_docs = sorted(_jsonl(tmp / f"out-{task}" / f"samples_{written.name}.jsonl"), key=lambda d: d["doc_id"])
    lm_docs = sorted(samples[written.name], key=lambda d: d["doc_id"])
    same_requests = sum([list(a) for a in lm["arguments"]] == ek["arguments"] for lm, ek in zip(lm_docs, ek_docs))
    agree, n, extra = compare_choices(lm_docs, ek_docs)
    counts = request_tokens(model_dir, lm_docs)
    name = f"{task}{f' {shots}-shot' if shots else ''}"
    report(name, t_lm, t_ek, agree, n, f"{extra}, identical requests {same_requests}/{n}; tokens lm-eval "
                                       f"{counts.lm_eval} / evalkit {counts.evalkit} = bound {counts.bound:.2f}x; "
                                       f"load average {' / '.join(f'{x:.1f}' for x in load)}")


def main() -> None:
    if sys.argv[1:2] == ["--lm-eval-child"]:
        lm_eval_child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["mmlu", "hellaswag", "gsm8k", "all", *TASK_FILES, "task-files"],
                        default="all", help="all: mmlu, hellaswag and gsm8k; task-files: the six shipped task files")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mmlu-per-subject", type=int, default=None, help="test questions per subject (all)")
    parser.add_argument("--hellaswag", type=int, default=500)
    parser.add_argument("--gsm8k", type=int, default=40)
    parser.add_argument("--docs", type=int, default=None,
                        help="documents per task-file task (default: " + ", ".join(
                            f"{t} {n}" for t, (_, n) in TASK_FILES.items()) + ")")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep both sides' samples, slices and task files in DIR/TASK (default: a temp folder)")
    args = parser.parse_args()
    tasks = {"all": ["mmlu", "hellaswag", "gsm8k"], "task-files": list(TASK_FILES)}.get(args.task, [args.task])
    if args.keep and any((args.keep / task).exists() for task in tasks):
        parser.error(f"--keep {args.keep}: already holds a result folder for {', '.join(tasks)}; choose a new folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evalkit.cli import install_environment
    from evalkit.models import resolve_model

    install_environment()  # this script is an edge: evalkit reads the environment from here on
    model_dir = resolve_model(args.model).path
    assert model_dir is not None
    for task in tasks:
        run = bench_task_file if task in TASK_FILES else bench
        if args.keep:
            (args.keep / task).mkdir(parents=True)
            run(task, args, model_dir, (args.keep / task).resolve())
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run(task, args, model_dir, Path(tmp))


if __name__ == "__main__":
    main()
