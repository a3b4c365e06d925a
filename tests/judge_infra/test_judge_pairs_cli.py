"""``evalkit judge --pairs FILE --votes FILE`` as a user runs it, on the tiny model as a ``local:`` judge in the
engine: every pair gets a verdict, the questions, answers, judgments and votes reach the store (so the
leaderboard and ``evalkit elo --from-judgments`` see all the models), the agreement report is written, a
rerun makes no model call, a killed run resumes, and bad rows are one located line with exit 2."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, write_jsonl

MODELS = ("alpha", "beta", "gamma")
TOPICS = ("Name a colour.", "What is 2 + 2?", "Say hello in French.", "Give a fruit.")


def _pairs(tmp_path: Path, n: int = 6) -> Path:
    rows = []
    for i in range(n):
        a, b = MODELS[i % 3], MODELS[(i + 1) % 3]
        # Each question's pair of models appears once (as a pairs file must have it); questions repeat.
        topic = TOPICS[i % len(TOPICS)] if i < 12 else f"{TOPICS[i % len(TOPICS)]} (variant {i // 12})"
        rows.append({"id": f"p{i}", "question": topic, "model_a": a, "answer_a": f"{a} says {i}",
                     "model_b": b, "answer_b": f"{b} answers {topic.lower()} {i}"})
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def _question_id(tmp_path: Path, pair: int) -> str:
    from evalkit.judge.pairs import read_pairs

    return read_pairs(tmp_path / "pairs.jsonl")[pair].question.id


def _votes(tmp_path: Path) -> Path:
    q0, q1 = _question_id(tmp_path, 0), _question_id(tmp_path, 1)
    return write_jsonl(tmp_path / "votes.jsonl", [
        {"question_id": q0, "model_a": "alpha", "model_b": "beta", "winner": "model_a", "annotator": "ann"},
        {"question_id": q0, "model_a": "beta", "model_b": "alpha", "winner": "model_b", "annotator": "bo"},
        {"question_id": q0, "model_a": "alpha", "model_b": "beta", "winner": "tie"},
        {"question_id": q1, "model_a": "beta", "model_b": "gamma", "winner": "model_b", "annotator": "ann"},
    ])


def _judge(tmp_path: Path, model_dir: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("judge", "--pairs", str(tmp_path / "pairs.jsonl"), "--judge", f"local:{model_dir}",
                   "--store", str(tmp_path / "s.db"), "--output", str(tmp_path / out), "--device", "cpu", *extra,
                   cwd=tmp_path, timeout=600)


def _made(stderr: str) -> tuple[int, int]:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("judge calls: "))
    made, cached = line.removeprefix("judge calls: ").split(", ")[:2]
    return int(made.split()[0]), int(cached.split()[0])


def test_pairs_and_votes_end_to_end_and_a_free_rerun(tiny_model_dir: Path, tmp_path: Path) -> None:
    _pairs(tmp_path)
    _votes(tmp_path)
    write_jsonl(tmp_path / "ref.jsonl", [
        {"question_id": _question_id(tmp_path, 0), "model_a": "alpha", "model_b": "beta", "winner": "model_a"}])
    proc = _judge(tmp_path, tiny_model_dir, "first", "--votes", str(tmp_path / "votes.jsonl"),
                  "--reference-votes", f"ref={tmp_path / 'ref.jsonl'}")
    assert proc.returncode == 0, proc.stderr
    assert _made(proc.stderr) == (6 * 2 * 3, 0)  # six pairs, two orders, three letters
    records = [json.loads(line) for line in (tmp_path / "first" / "judgments.jsonl").read_text().splitlines()]
    assert [r["extra"]["pair_id"] for r in records] == [f"p{i}" for i in range(6)]
    assert all(r["outcome"] in ("win", "loss", "tie") for r in records)  # every pair has a verdict
    assert all(set(r["extra"]["logprobs"]) == {"ab", "ba"} for r in records)
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["pairs"] == 6 and summary["models"] == 3 and summary["prompt_version"] == "evalkit-judge-v2"
    report = summary["agreement"]["judge"]
    assert report["pairs"] == 6 and report["votes"] == 4 and report["votes_unmatched"] == 0  # 2 pairs have votes
    # The judge's per-vote agreement, counted by hand from its stored outcomes.
    winner = {"win": "model_a", "loss": "model_b", "tie": "tie"}
    p0, p1 = winner[records[0]["outcome"]], winner[records[1]["outcome"]]
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    agree = [p0 == "model_a", flip[p0] == "model_b", p0 == "tie", p1 == "model_b"]
    assert report["per_vote"]["value"] == pytest.approx(sum(agree) / 4)
    assert summary["agreement"]["references"]["ref"]["pairs"] == 1
    assert "votes: 4 read" in proc.stderr and "4 new in the store" in proc.stderr

    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM judgments").fetchone()[0] == 6
        assert conn.execute("SELECT count(DISTINCT model) FROM answers").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 4
    rated = run_cli("elo", "--from-judgments", "--store", str(tmp_path / "s.db"), "--json", "--bootstrap", "0",
                    cwd=tmp_path)
    assert rated.returncode == 0, rated.stderr
    assert set(json.loads(rated.stdout)["bt"]) == set(MODELS)

    again = _judge(tmp_path, tiny_model_dir, "second", "--votes", str(tmp_path / "votes.jsonl"))
    assert again.returncode == 0, again.stderr
    assert _made(again.stderr) == (0, 6 * 2 * 3)
    assert "0 new in the store" in again.stderr
    assert (tmp_path / "second" / "judgments.jsonl").read_text() == (tmp_path / "first" / "judgments.jsonl").read_text()


def test_a_killed_run_resumes_where_it_stopped(tiny_model_dir: Path, tmp_path: Path) -> None:
    n = 160  # enough work that the run is still going when it is killed, on a fast machine too
    total = n * 2 * 3
    _pairs(tmp_path, n=n)
    command = [sys.executable, "-m", "evalkit.cli", "judge", "--pairs", str(tmp_path / "pairs.jsonl"), "--judge",
               f"local:{tiny_model_dir}", "--store", str(tmp_path / "s.db"), "--device", "cpu", "--batch-size", "1"]
    with (tmp_path / "killed.log").open("w") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
                                start_new_session=True)
    deadline = time.monotonic() + 300
    answered = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if (tmp_path / "s.db").exists():
            with sqlite3.connect(tmp_path / "s.db", timeout=5) as conn:
                try:
                    answered = conn.execute("SELECT count(*) FROM request_cache").fetchone()[0]
                except sqlite3.OperationalError:  # the schema is not created yet
                    continue
            if answered >= 12:
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]  # killed, not done
    assert 12 <= answered < total, answered
    resumed = run_cli(*command[3:], "--output", str(tmp_path / "resumed"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    made, cached = _made(resumed.stderr)
    assert cached >= answered and made + cached == total
    fresh = run_cli(*command[3:8], "--store", str(tmp_path / "fresh.db"), "--device", "cpu", "--output",
                    str(tmp_path / "fresh"), cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    strip = [{k: v for k, v in json.loads(line).items() if k != "created_at"}
             for line in (tmp_path / "resumed" / "judgments.jsonl").read_text().splitlines()]
    want = [{k: v for k, v in json.loads(line).items() if k != "created_at"}
            for line in (tmp_path / "fresh" / "judgments.jsonl").read_text().splitlines()]
    assert len(strip) == n
    for got, expected in zip(strip, want, strict=True):  # batch size 1 vs 8: the same verdicts, float rounding apart
        assert (got["verdict_ab"], got["verdict_ba"], got["outcome"]) == (
            expected["verdict_ab"], expected["verdict_ba"], expected["outcome"])
        assert got["extra"]["weighted_win"] == pytest.approx(expected["extra"]["weighted_win"], abs=1e-4)


@pytest.mark.parametrize(("flag", "text", "message"), [
    ("--pairs", '{"id": "p1", "question": "Q?", "model_a": "a", "answer_a": "x", "model_b": "b"}\n',
     "pairs.jsonl:1: answer_b: "),
    ("--pairs", '{"id": "p1", "question": "Q?", "model_a": "a", "answer_a": "x", "model_b": "b", "answer_b": "y"}\n'
     '{"id": "p1", "question": "Q?", "model_a": "a", "answer_a": "x", "model_b": "c", "answer_b": "y"}\n',
     "pairs.jsonl:2: id: "),
    ("--votes", '{"question_id": "q", "model_a": "a", "model_b": "b", "winner": "left"}\n',
     "votes.jsonl:1: winner: "),
])
def test_bad_rows_are_one_located_line_and_nothing_is_written(tiny_model_dir: Path, tmp_path: Path, flag: str,
                                                              text: str, message: str) -> None:
    _pairs(tmp_path)
    bad = tmp_path / ("pairs.jsonl" if flag == "--pairs" else "votes.jsonl")
    bad.write_text(text)
    extra = ("--votes", str(bad)) if flag == "--votes" else ()
    proc = _judge(tmp_path, tiny_model_dir, "out", *extra)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "out").exists()


def test_the_two_forms_do_not_mix(tmp_path: Path) -> None:
    _pairs(tmp_path)
    proc = run_cli("judge", "--pairs", str(tmp_path / "pairs.jsonl"), "--a", "x", "--judge", "local:x", cwd=tmp_path)
    assert proc.returncode == 2 and "--a cannot be given with it" in proc.stderr
    proc = run_cli("judge", "--a", "x", "--judge", "local:x", cwd=tmp_path)
    assert proc.returncode == 2 and "--b, --questions required" in proc.stderr


def test_an_endpoint_without_logprobs_falls_back_to_the_text_protocol(tmp_path: Path) -> None:
    """FAULT INJECTION: the fake endpoint (tests/judge_infra/fake_endpoint.py) returns text without log-probabilities,
    as ``transformers serve`` does; the run says so once and judges with evalkit-judge-v1."""
    from tests.judge_infra.fake_endpoint import FaultyEndpoint

    _pairs(tmp_path, n=2)
    with FaultyEndpoint() as endpoint:
        judge = f"openai:{endpoint.base_url}#judge-model"
        proc = run_cli("judge", "--pairs", str(tmp_path / "pairs.jsonl"), "--judge", judge, "--store",
                       str(tmp_path / "s.db"), "--output", str(tmp_path / "out"), cwd=tmp_path,
                       env={"OPENAI_API_KEY": "k"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("returns no log-probabilities") == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["prompt_version"] == "evalkit-judge-v1"


def test_readme_documents_the_judge_flags() -> None:
    readme = (REPO / "README.md").read_text()
    for flag in ("--pairs", "--votes", "--reference-votes", "--reasoning", "evalkit-judge-v2"):
        assert flag in readme, flag
