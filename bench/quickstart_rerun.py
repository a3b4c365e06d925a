"""Time the quickstart twice in a fresh EVALKIT_HOME: the rerun must recompute nothing and take
under a fifth of the first run (the anchor, measured in the same invocation).

    .venv/bin/python bench/quickstart_rerun.py [--model smollm2-135m-instruct]

The converted model cache (EVALKIT_CACHE) is kept, so the first run measures evaluation, not
the one-time GGUF conversion.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(model: str, home: Path, out: Path) -> tuple[float, str]:
    env = {**os.environ, "EVALKIT_HOME": str(home), "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", "suites/quickstart.yaml", "--model", model,
                           "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        # Warm the one-time conversion outside the measurement.
        warm = ("from evalkit.cli import install_environment; install_environment(); "
                f"from evalkit.models import resolve_model; resolve_model({args.model!r})")
        subprocess.run([sys.executable, "-c", warm], cwd=REPO, check=True, capture_output=True)
        first, _ = timed_run(args.model, home, Path(tmp) / "first")
        second, out = timed_run(args.model, home, Path(tmp) / "second")
    summary = next(line for line in out.splitlines() if line.startswith("requests:"))
    print(f"first run : {first:7.1f} s")
    print(f"rerun     : {second:7.1f} s   ({summary})")
    print(f"ratio     : {second / first:7.3f}  (target < 0.200: {'met' if second / first < 0.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
