"""Speed of the ratings: Bradley–Terry fit, bootstrap, and the whole ``evalkit elo`` command.

Targets (issue 10): a BT fit on 1,000,000 synthetic votes over 100 models in under 3 s; 100
bootstrap rounds on 100,000 votes in under 10 s; ``evalkit elo`` on a 1,000,000-vote CSV (written
to a temporary folder, default method bt with 100 bootstrap rounds) in under 8 s, timed as a fresh
process so that imports and reading the file count. Votes are drawn from a known BT model, so the
fit's error against the true ratings is printed as a sanity check.

    .venv/bin/python bench/elo_speed.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.ratings.bootstrap import bootstrap_bt
from evalkit.ratings.bradley_terry import aggregate, fit_bt

N_MODELS = 100


def synthetic_votes(n_votes: int, rng: np.random.Generator,
                    tie_share: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(model_a, model_b, score_a, true ratings): pairs uniform, outcomes from BT, some ties at random."""
    true = rng.normal(1000, 150, N_MODELS)
    a = rng.integers(0, N_MODELS, n_votes)
    b = (a + rng.integers(1, N_MODELS, n_votes)) % N_MODELS
    p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
    u = rng.random(n_votes)
    score = np.where(u < tie_share, 0.5, np.where(rng.random(n_votes) < p, 1.0, 0.0))
    return a, b, score, true


def report(name: str, seconds: float, target: float) -> bool:
    ok = seconds < target
    print(f"{name:<52} {seconds:6.2f} s   (target < {target:g} s)  {'ok' if ok else 'TOO SLOW'}")
    return ok


def main() -> int:
    rng = np.random.default_rng(0)
    ok = True

    # No ties here: random ties pull ratings together, and the error printed below would show it.
    a, b, s, true = synthetic_votes(1_000_000, rng, tie_share=0.0)
    start = time.perf_counter()
    fit = fit_bt(aggregate(a, b, s, N_MODELS))
    ok &= report("BT fit, 1,000,000 votes, 100 models", time.perf_counter() - start, 3.0)
    error = np.abs((fit.ratings - fit.ratings.mean()) - (true - true.mean())).max()
    print(f"  largest error against the true ratings: {error:.1f} points")

    a, b, s, _ = synthetic_votes(100_000, rng)
    start = time.perf_counter()
    pairs = aggregate(a, b, s, N_MODELS)
    bootstrap_bt(pairs, 100, np.random.default_rng(1))
    ok &= report("BT bootstrap, 100 rounds on 100,000 votes", time.perf_counter() - start, 10.0)

    a, b, s, _ = synthetic_votes(1_000_000, rng)
    names = np.array([f"model-{i:03d}" for i in range(N_MODELS)])
    winner = np.where(s == 1.0, "model_a", np.where(s == 0.0, "model_b", "tie"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "votes.csv"
        with path.open("w") as handle:
            handle.write("model_a,model_b,winner\n")
            handle.writelines(f"{x},{y},{w}\n" for x, y, w in zip(names[a], names[b], winner, strict=True))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalkit", "elo", str(path)], capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    ok &= report("evalkit elo, 1,000,000-vote CSV (bt, 100 rounds)", seconds, 8.0)
    print("  " + "\n  ".join(proc.stdout.splitlines()[:4]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
