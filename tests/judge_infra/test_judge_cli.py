"""``evalkit judge`` as a user runs it: bad judges are one line and exit 2 before any answer is
generated; end to end (once the protocol, statistics and judgments table are in) on tiny models
with a real local judge, where a rerun makes no judge call."""

from __future__ import annotations

import importlib.util
import json
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_jsonl


def _questions(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "questions.jsonl", [
        {"id": "q1", "prompt": "Name a primary colour.", "category": "knowledge"},
        {"id": "q2", "prompt": "What is 2 + 2?", "category": "math", "reference": "4"},
    ])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _judge(tmp_path: Path, judge: str, *extra: str, env: dict[str, str] | None = None):
    return run_cli("judge", "--a", "smollm2-135m-instruct", "--b", "gemma3-270m", "--questions",
                   str(_questions(tmp_path)), "--judge", judge, "--store", str(tmp_path / "s.db"),
                   "--output", str(tmp_path / "out"), *extra, cwd=tmp_path, env=env, timeout=120)


def _nothing_done(tmp_path: Path) -> None:
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "out").exists()


def test_unreachable_endpoint_is_one_line_before_any_answer(tmp_path: Path) -> None:
    port = _closed_port()
    proc = _judge(tmp_path, f"openai:http://127.0.0.1:{port}/v1#judge")
    assert proc.returncode == 2
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]  # one line
    assert f"judge http://127.0.0.1:{port}/v1: endpoint unreachable" in proc.stderr
    _nothing_done(tmp_path)


@pytest.mark.parametrize(("extra", "variable"), [((), "OPENAI_API_KEY"), (("--api-key-env", "MY_JUDGE_KEY"),
                                                                          "MY_JUDGE_KEY")])
def test_missing_key_is_one_line_before_any_answer(tmp_path: Path, extra: tuple[str, ...], variable: str) -> None:
    # No network is touched: the key is checked before the endpoint is probed.
    proc = _judge(tmp_path, "openai:https://judge.example.invalid/v1#big-judge", *extra,
                  env={"OPENAI_API_KEY": "", "MY_JUDGE_KEY": ""})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"judge https://judge.example.invalid/v1: no API key: {variable} is not set "
                                   "(set it, or name another variable with --api-key-env NAME)")
    _nothing_done(tmp_path)


def test_bad_judge_spec_and_missing_answers_file(tmp_path: Path) -> None:
    proc = _judge(tmp_path, "gpt-4")
    assert proc.returncode == 2 and "expected openai:<base_url>#<model>" in proc.stderr
    proc = _judge(tmp_path, "local:smollm2-135m-instruct", "--answers-a", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2 and proc.stderr.strip().endswith("nope.jsonl: no such file")
    _nothing_done(tmp_path)


MERGED = all(importlib.util.find_spec(m) for m in ("evalkit.judge.protocol", "evalkit.judge.stats",
                                                   "evalkit.judge.records", "evalkit.judge.questions"))


@pytest.mark.skipif(not MERGED, reason="needs the judge protocol, statistics and judgments table (issue 10, J1)")
@pytest.mark.parametrize(("version", "mode"), [("evalkit-judge-v2", "pairwise"), ("evalkit-judge-v1", "pairwise"),
                                             ("evalkit-judge-v2", "single")])
def test_end_to_end_with_a_local_judge_and_a_free_rerun(tiny_model_dir: Path, tmp_path: Path, version: str,
                                                        mode: str) -> None:
    """The local judge runs in the engine with either prompt version: v2 reads verdicts from probabilities
    (every question scored), v1 generates text and parses it."""
    questions = _questions(tmp_path)
    write_jsonl(tmp_path / "answers_b.jsonl", [{"question_id": "q1", "answer": "Blue."},
                                               {"question_id": "q2", "answer": "5"}])

    def judge(out: str) -> tuple[int, str, str]:
        proc = run_cli("judge", "--a", str(tiny_model_dir), "--b", "made-elsewhere", "--answers-b",
                       str(tmp_path / "answers_b.jsonl"), "--questions", str(questions), "--judge",
                       f"local:{tiny_model_dir}", "--store", str(tmp_path / "s.db"), "--output", str(tmp_path / out),
                       "--max-answer-tokens", "4", "--judge-max-tokens", "8", "--device", "cpu",
                       "--prompt-version", version, "--mode", mode, cwd=tmp_path, timeout=600)
        return proc.returncode, proc.stdout, proc.stderr

    code, _, stderr = judge("first")
    assert code == 0, stderr
    assert "self-preference" in stderr  # the judge is contestant A
    made = int(stderr.split("judge calls: ")[1].split(" made")[0])
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["judge_calls"]["made"] == made
    records = [json.loads(line) for line in (tmp_path / "first" / "judgments.jsonl").read_text().splitlines()]
    assert {r["prompt_version"] for r in records} == {version}
    if mode == "single":  # two models' answers, ten ratings each, read as an expected score
        assert made == 2 * 2 * 10 and all(1 <= r["rating"] <= 10 for r in records)
        assert [r["question_id"] for r in records] == ["q1", "q2", "q1", "q2"]
        return
    if version == "evalkit-judge-v2":
        assert made == 2 * 2 * 3  # two questions, both orders, three letters; nothing unscored
        assert all(r["outcome"] != "unscored" for r in records)
        assert summary["weighted_win_rate"] is not None
    else:
        assert made >= 4  # two questions, both orders (plus verdict-only retries for unreadable replies)
    assert [r["question_id"] for r in records] == ["q1", "q2"]
    assert (tmp_path / "first" / "answers_a.jsonl").is_file()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM judgments").fetchone()[0] == 2
        # both sides' answers are stored for the arena: generated for A, read from its file for B
        stored = conn.execute("SELECT model, question_id, answer, source FROM answers").fetchall()
        generated = [json.loads(line) for line in (tmp_path / "first" / "answers_a.jsonl").read_text().splitlines()]
        expected = [("made-elsewhere", "q1", "Blue.", "file"), ("made-elsewhere", "q2", "5", "file")]
        assert sorted(stored) == sorted([*expected,
                                         *[(str(tiny_model_dir), g["question_id"], g["answer"], "generated")
                                           for g in generated]])

    code, _, stderr = judge("second")
    assert code == 0, stderr
    assert f"judge calls: 0 made, {made} from cache" in stderr
    assert (tmp_path / "second" / "judgments.jsonl").read_text() == (tmp_path / "first" / "judgments.jsonl").read_text()
