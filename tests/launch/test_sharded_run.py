"""``evalkit run --shard I/N`` and ``--workers N``: the same answers and results as one process,
every request computed exactly once across the shards, a SIGKILLed shard rerun to the same end.

Real processes on the tiny random model, a real SQLite store shared by the shards, real MMLU
rows (two subjects, 5-shot: prefix groups), generation and rolling log-likelihood requests.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.config import RunConfig
from evalkit.errors import UserError
from evalkit.parity.mirror import write_mmlu
from evalkit.runner import run_suite
from evalkit.suites import load_suite
from tests.conftest import REPO, SHARED_DATA, run_cli, write_jsonl

SUBJECTS = ["abstract_algebra", "anatomy"]
N_MMLU, N_PROMPTS, N_TEXTS = 8, 12, 2
#: Distinct requests: 4 choices per MMLU question, one per prompt (greedy) and per text.
TOTAL = len(SUBJECTS) * N_MMLU * 4 + N_PROMPTS + N_TEXTS



def hendrycks_folder(root: Path) -> Path:
    """MMLU in Hendrycks' CSV layout: the shared copy's subjects when it is there, else made-up questions of
    the same shape (the shards' behaviour does not depend on what the questions say), so the tests always run."""
    shared = SHARED_DATA / "mmlu" / "data"
    if shared.is_dir():
        return shared
    folder = root / "hendrycks"
    for subject in SUBJECTS:
        for split, n in (("dev", 5), ("test", N_MMLU)):
            path = folder / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(
                    [f"In {subject.replace('_', ' ')}, which option is number {i % 4 + 1} ({split} {i})?",
                     *(f"option {k} of {i}" for k in range(1, 5)), "ABCD"[i % 4]] for i in range(n))
    return folder


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sharded")
    write_mmlu(hendrycks_folder(root), root / "data", subjects=SUBJECTS, test_rows=N_MMLU)
    write_jsonl(root / "texts.jsonl", [{"text": "The lighthouse keeper climbed the stairs at dusk."},
                                       {"text": "Short text.\nTwo lines."}])
    write_jsonl(root / "qa.jsonl", [{"prompt": f"Question {i}: name a colour.", "references": ["Blue."]}
                                    for i in range(N_PROMPTS)])
    path = root / "suite.yaml"
    path.write_text("suite: sharded\ndefaults: {batch_size: 2, generation: {max_gen_toks: 24}}\ntasks:\n"
                    + "".join(f"  - task: mmlu_{s}\n    num_fewshot: 5\n" for s in SUBJECTS)
                    + "  - name: ppl\n    evaluator: perplexity\n    dataset: {path: json, data_files: texts.jsonl}\n"
                    "  - name: answers\n    evaluator: generation_metrics\n"
                    "    dataset: {path: json, data_files: qa.jsonl}\n    metrics: [chrf]\n")
    return path


def flags(suite: Path, model: Path) -> list[str]:
    return ["run", str(suite), "--model", str(model), "--data-root", str(suite.parent / "data")]


@pytest.fixture(scope="module")
def reference(suite: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One process, its own store: what every sharded run must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = run_cli(*flags(suite, tiny_model_dir), "--output", str(out),
                   env={"EVALKIT_HOME": str(out.parent / "home")})
    assert proc.returncode == 0, proc.stderr
    assert f"computed {TOTAL};" in proc.stdout, proc.stdout
    return out


def cached(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM request_cache WHERE model_fingerprint NOT LIKE 'scores:%'"
                                ).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def computed(output: str) -> list[int]:
    """The per-shard counts of the shard summary lines (``shard I/N: ... computed K; ...``)."""
    return [int(n) for n in re.findall(r"^shard \d+/\d+: .*computed (\d+);", output, flags=re.M)]


def assert_each_request_computed_once(stdout: str, stderr: str, stored: int) -> None:
    """Two workers each computed a share, together every distinct request once; the store holds them all and
    the gather in the parent computed nothing (and so loaded no model)."""
    per_shard = computed(stderr)
    assert len(per_shard) == 2 and min(per_shard) > 0 and sum(per_shard) == TOTAL, stderr
    assert stored == TOTAL
    assert f"{TOTAL} distinct, {TOTAL} from cache, recomputed nothing" in stdout, stdout


def assert_same_as_reference(out: Path, reference: Path) -> None:
    """Identical results; per request the same answer (log-likelihoods within 1e-4, the same text)."""
    ours, theirs = (json.loads((d / "results.json").read_text()) for d in (out, reference))
    assert ours["results"] == theirs["results"]
    for samples in sorted(reference.glob("samples_*.jsonl")):
        a = [json.loads(line) for line in (out / samples.name).read_text().splitlines()]
        b = [json.loads(line) for line in samples.read_text().splitlines()]
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            assert x["arguments"] == y["arguments"]
            for r, s in zip(x["resps"], y["resps"], strict=True):
                if isinstance(s, str):
                    assert r == s
                else:  # [log-likelihood, is_greedy] or [log-likelihood, tokens]
                    assert abs(r[0] - s[0]) <= 1e-4 and r[1] == s[1]


def test_workers_give_the_one_process_answers_each_computed_once(suite: Path, tiny_model_dir: Path,
                                                                 reference: Path, evalkit_env: Path,
                                                                 tmp_path: Path) -> None:
    proc = run_cli(*flags(suite, tiny_model_dir), "--workers", "2", "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert_each_request_computed_once(proc.stdout, proc.stderr, cached(evalkit_env / "evalkit.db"))
    assert_same_as_reference(tmp_path / "out", reference)


def test_workers_share_a_postgresql_store_named_only_in_the_environment(suite: Path, tiny_model_dir: Path,
                                                                        reference: Path, postgres_url: str,
                                                                        tmp_path: Path) -> None:
    # The cluster set-up: every worker and the gather meet in one PostgreSQL database (EVALKIT_STORE).
    from evalkit.store import Store

    proc = run_cli(*flags(suite, tiny_model_dir), "--workers", "2", "--output", str(tmp_path / "out"),
                   env={"EVALKIT_STORE": postgres_url})
    assert proc.returncode == 0, proc.stderr
    with Store(postgres_url) as store:
        (run,) = store.list_runs()
        assert run.status == "finished"
        assert_each_request_computed_once(proc.stdout, proc.stderr, store.cache_count(run.model_fingerprint))
    assert_same_as_reference(tmp_path / "out", reference)


def test_shards_by_hand_then_a_final_run(suite: Path, tiny_model_dir: Path, reference: Path, evalkit_env: Path,
                                         tmp_path: Path) -> None:
    shards = [subprocess.Popen([sys.executable, "-m", "evalkit.cli", *flags(suite, tiny_model_dir), "--shard",
                                f"{i}/2"], cwd=REPO, env=dict(os.environ), text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in shards]
    assert [p.returncode for p in shards] == [0, 0], [err for _, err in outputs]
    per_shard = [n for out, _ in outputs for n in computed(out)]
    assert sum(per_shard) == TOTAL and min(per_shard) > 0, outputs
    with sqlite3.connect(evalkit_env / "evalkit.db") as conn:  # a shard records no run and no results
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    final = run_cli(*flags(suite, tiny_model_dir), "--output", str(tmp_path / "out"))
    assert final.returncode == 0, final.stderr
    assert f"{TOTAL} from cache, recomputed nothing" in final.stdout, final.stdout
    assert_same_as_reference(tmp_path / "out", reference)


def test_a_sigkilled_shard_is_rerun_keeping_its_answers(suite: Path, tiny_model_dir: Path, reference: Path,
                                                        evalkit_env: Path, tmp_path: Path) -> None:
    db = evalkit_env / "evalkit.db"
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", *flags(suite, tiny_model_dir), "--shard", "1/2"],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while cached(db) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = cached(db)
    rerun = run_cli(*flags(suite, tiny_model_dir), "--shard", "1/2")
    assert rerun.returncode == 0, rerun.stderr
    match = re.search(r"shard 1/2: (\d+) requests .* (\d+) from cache, computed (\d+);", rerun.stdout)
    assert match, rerun.stdout
    mine, from_cache, now = map(int, match.groups())
    assert 0 < done_before == from_cache < mine and from_cache + now == mine, (done_before, rerun.stdout)
    # The gather after workers (every answer must be cached) refuses while shard 0 has not run,
    # before writing anything.
    loaded = load_suite(suite)
    config = RunConfig.resolve(loaded, model=str(tiny_model_dir), store_path=db, output=tmp_path / "early",
                               data_root=suite.parent / "data")
    with pytest.raises(UserError, match=rf"^gather: {TOTAL - mine} of {TOTAL} requests are not in the store"):
        run_suite(loaded, dataclasses.replace(config, require_cached=True))
    assert not (tmp_path / "early").exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    other = run_cli(*flags(suite, tiny_model_dir), "--shard", "0/2")
    assert other.returncode == 0, other.stderr
    assert sum(computed(other.stdout)) == TOTAL - mine
    final = run_cli(*flags(suite, tiny_model_dir), "--output", str(tmp_path / "out"))
    assert f"{TOTAL} from cache, recomputed nothing" in final.stdout, final.stdout
    assert_same_as_reference(tmp_path / "out", reference)


@pytest.mark.parametrize(("value", "message"), [("3/2", "from 0 to N-1 = 1"), ("2/2", "from 0 to N-1 = 1"),
                                                 ("0/0", "at least one shard"), ("x/y", "expected I/N")])
def test_a_bad_shard_is_one_line(suite: Path, value: str, message: str) -> None:
    proc = run_cli("run", str(suite), "--model", "nowhere", "--shard", value)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr and "--shard" in proc.stderr


def test_conflicting_scaling_flags_are_one_line(suite: Path) -> None:
    for extra, message in ((["--shard", "0/2", "--workers", "2"], "--shard and --workers"),
                           (["--launcher", "ray"], "--launcher ray: give --workers N"),
                           (["--shard", "0/2", "--output", "o"], "--output: a --shard run"),
                           (["--workers", "2"], "--model 'nowhere'")):  # a worker's own refusal, passed on
        proc = run_cli("run", str(suite), "--model", "nowhere", *extra)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
        assert message in proc.stderr


def test_ray_launcher_on_a_local_cluster(suite: Path, tiny_model_dir: Path, reference: Path, evalkit_env: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from evalkit.cli import main

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        code = main([*flags(suite, tiny_model_dir), "--workers", "2", "--launcher", "ray",
                     "--output", str(tmp_path / "out")])
    finally:
        ray.shutdown()
    out = capsys.readouterr()
    assert code == 0, out.err
    assert_each_request_computed_once(out.out, out.err, cached(evalkit_env / "evalkit.db"))
    assert_same_as_reference(tmp_path / "out", reference)


def test_a_killed_worker_fails_in_one_line_and_the_rerun_finishes(suite: Path, tiny_model_dir: Path,
                                                                  reference: Path, evalkit_env: Path,
                                                                  tmp_path: Path) -> None:
    import psutil

    db = evalkit_env / "evalkit.db"
    argv = [*flags(suite, tiny_model_dir), "--workers", "2", "--output", str(tmp_path / "out")]
    parent = subprocess.Popen([sys.executable, "-m", "evalkit.cli", *argv], cwd=REPO, env=dict(os.environ),
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while cached(db) < 4 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.02)
    workers = [p for p in psutil.Process(parent.pid).children() if "--shard" in p.cmdline()]
    assert len(workers) == 2
    victim = next(p for p in workers if "1/2" in p.cmdline())
    victim.kill()  # fault injection: a worker dies (SIGKILL) mid-run
    _, err = parent.communicate(timeout=600)
    assert parent.returncode == 1
    assert err.strip().splitlines()[-1].startswith("shard 1/2 failed (exit code -9)"), err
    assert not (tmp_path / "out").exists()  # no half-written results
    done_before = cached(db)
    rerun = run_cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert sum(computed(rerun.stderr)) == TOTAL - done_before  # the kept answers are not recomputed
    assert_same_as_reference(tmp_path / "out", reference)
