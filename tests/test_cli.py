"""The command line as a user meets it: fast help, listings, lm-eval import."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, run_cli

LM_EVAL_FIXTURE = REPO / "tests" / "store" / "fixtures" / "lm_eval_results.json"


def test_help_is_fast() -> None:
    best = min(_timed([sys.executable, "-m", "evalkit.cli", "--help"]) for _ in range(3))
    assert best < 1.0, f"evalkit --help took {best:.2f} s"


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def test_packages_import_under_evalkit() -> None:
    import evalkit.evaluators
    import evalkit.harness
    import evalkit.leaderboard

    assert Path(evalkit.evaluators.__path__[0]).name == "evaluators"
    assert evalkit.harness.__name__ == "evalkit.harness" and evalkit.leaderboard.__name__ == "evalkit.leaderboard"


def test_models_list_shows_aliases_and_cache_state(default_model_dir: Path) -> None:
    out = run_cli("models", "list").stdout
    assert "smollm2-135m-instruct" in out and "gemma3-270m" in out
    smol = next(line for line in out.splitlines() if line.startswith("smollm2-135m-instruct"))
    assert "cached" in smol


def test_evaluators_list_shows_settings() -> None:
    out = run_cli("evaluators", "list").stdout
    for name in ("perplexity", "generation_metrics", "reference_metrics"):
        assert name in out
    assert "text_field" in out and "apply_chat_template" in out


def test_suites_list() -> None:
    out = run_cli("suites", "list").stdout
    assert "quickstart" in out and "INVALID" not in out


def test_lm_eval_results_import_and_list() -> None:
    imported = run_cli("results", "import", str(LM_EVAL_FIXTURE))
    assert imported.returncode == 0, imported.stderr
    run_id = imported.stdout.split()[-1]
    listed = run_cli("results", "list").stdout
    assert run_id in listed and "imported" in listed
    shown = run_cli("results", "show", run_id).stdout
    assert "hellaswag" in shown and "acc_norm" in shown


def test_unknown_run_is_one_line() -> None:
    proc = run_cli("results", "show", "no-such-run")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
