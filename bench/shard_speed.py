"""MMLU 5-shot (4 subjects), one process against ``--workers N``: wall times, each request computed once.

    .venv/bin/python bench/shard_speed.py [--model smollm2-135m-instruct] [--workers 2] [--batch-size 8]
        [--mmlu-per-subject N] [--keep DIR]

Both runs are whole ``evalkit run`` processes started from scratch (interpreter, imports, data,
model loading), each with its own empty store, on the same local slice of ../shared/data (the
``cais/mmlu`` mirror that bench/vs_lm_eval.py reads), in float32 on the CPU. The sharded run is
``--workers N``: N local worker processes (the cores split between them), then the gather in the
parent. Printed: both wall times and their ratio; the computed-once check (the workers' computed
counts add up to the distinct requests, the store holds exactly that many answers, the gather
recomputed nothing); whether the results are identical and the largest per-request log-likelihood
difference; the 1-minute load average before, between and after (compare times only from quiet runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evalkit.parity.mirror import write_mmlu

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MMLU_SUBJECTS = ["abstract_algebra", "anatomy", "astronomy", "business_ethics"]


def run_evalkit(argv: list[str], home: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"evalkit {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc


def cache_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM request_cache WHERE model_fingerprint NOT LIKE 'scores:%'"
                            ).fetchone()[0]


def distinct(stdout: str) -> tuple[int, int]:
    """(distinct requests, computed) from a run's summary line."""
    match = re.search(r"requests: (\d+) distinct, (\d+) from cache, (?:recomputed nothing|computed (\d+))", stdout)
    assert match, stdout
    return int(match[1]), int(match[3] or 0)


def samples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(out.glob("samples_*.jsonl")) for line in f.read_text().splitlines()]


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def bench(args: argparse.Namespace, tmp: Path) -> None:
    data = tmp / "data"
    subjects = write_mmlu(SHARED / "mmlu" / "data", data, subjects=MMLU_SUBJECTS, test_rows=args.mmlu_per_subject)
    suite = tmp / "mmlu4.yaml"
    suite.write_text("suite: mmlu4\ntasks:\n" + "".join(f"  - task: mmlu_{s}\n    num_fewshot: 5\n" for s in subjects))
    base = ["run", str(suite), "--model", args.model, "--data-root", str(data), "--batch-size", str(args.batch_size)]
    loads = [load()]
    t_one, one = run_evalkit([*base, "--output", str(tmp / "one")], tmp / "home-one")
    loads.append(load())
    t_many, many = run_evalkit([*base, "--workers", str(args.workers), "--output", str(tmp / "many")],
                               tmp / "home-many")
    loads.append(load())

    total, computed_one = distinct(one.stdout)
    per_worker = [int(n) for n in re.findall(r"^shard \d+/\d+: .*computed (\d+);", many.stderr, flags=re.M)]
    gather_total, gather_computed = distinct(many.stdout)
    rows = cache_rows(tmp / "home-many" / "evalkit.db")
    once = (computed_one == total and len(per_worker) == args.workers and sum(per_worker) == total
            and gather_total == total and gather_computed == 0 and rows == total)
    results = [json.loads((tmp / d / "results.json").read_text())["results"] for d in ("one", "many")]
    a, b = samples(tmp / "one"), samples(tmp / "many")
    delta = max(abs(x[0] - y[0]) for s, t in zip(a, b, strict=True) for x, y in zip(s["resps"], t["resps"]))
    n_docs = len(a)
    print(f"MMLU 5-shot, {len(subjects)} subjects, {n_docs} questions, {total} distinct requests, "
          f"batch size {args.batch_size}, {os.cpu_count()} cores")
    print(f"1 worker   {t_one:7.1f} s")
    print(f"{args.workers} workers  {t_many:7.1f} s   speed-up {t_one / t_many:4.2f}x")
    for line in re.findall(r"^shard \d+/\d+: .*$", many.stderr, flags=re.M):
        print(f"  {line}")
    print(f"computed once: {'yes' if once else 'NO'} (workers computed {' + '.join(map(str, per_worker))} = "
          f"{sum(per_worker)} of {total}; store holds {rows} answers; the gather computed {gather_computed})")
    print(f"results identical: {'yes' if results[0] == results[1] else 'NO'}; max |delta loglik| {delta:.2e}")
    print(f"load average (1 min) before / between / after: {' / '.join(loads)}")
    if not once or results[0] != results[1]:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mmlu-per-subject", type=int, default=None, help="test questions per subject (all)")
    parser.add_argument("--keep", type=Path, default=None, help="keep both runs' outputs and stores in DIR")
    args = parser.parse_args()
    if args.workers < 2:
        parser.error("--workers: expected at least 2 (the comparison is with one process)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from evalkit.cli import install_environment
    from evalkit.models import resolve_model

    install_environment()  # this script is an edge: evalkit reads the environment from here on
    resolve_model(args.model)  # converts an embedded GGUF once, before either run is timed
    if args.keep:
        if args.keep.exists() and any(args.keep.iterdir()):
            parser.error(f"--keep {args.keep}: folder exists and is not empty")
        args.keep.mkdir(parents=True, exist_ok=True)
        bench(args, args.keep.resolve())
        return
    with tempfile.TemporaryDirectory() as tmp:
        bench(args, Path(tmp))


if __name__ == "__main__":
    main()
