"""``--judge reward:PATH``: verdicts from a reward model's scores of the two answers, end to end through the CLI
on a tiny random reward model (``evalkit judge --pairs ... --judge reward:DIR --votes ...``)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from evalkit.engine.requests import Score
from evalkit.engine.reward import RewardBackend
from evalkit.judge.client import parse_judge_spec
from evalkit.judge.interfaces import Outcome, PairVerdict
from evalkit.judge.protocol import outcome_of
from evalkit.judge.reward_judge import verdicts, win_probability
from evalkit.models.resolve import resolve_model
from tests.conftest import collect_responses, run_cli, write_jsonl
from tests.engine.test_score_backend import save_reward_model

MODELS = ("alpha", "beta", "gamma")
TOPICS = ("Name a colour.", "What is 2 + 2?", "Say hello in French.", "Give a fruit.")


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_reward_model(tiny_model_dir, tmp_path_factory.mktemp("reward"), seed=7)


def test_verdicts_are_position_free_and_tie_only_on_equal_scores() -> None:
    assert verdicts(2.0, 1.0) == (PairVerdict.A, PairVerdict.B)  # ab: A shown first wins; ba: B shown first loses
    assert verdicts(1.0, 2.0) == (PairVerdict.B, PairVerdict.A)
    assert verdicts(1.5, 1.5) == (PairVerdict.TIE, PairVerdict.TIE)
    assert outcome_of(*verdicts(2.0, 1.0)) is Outcome.WIN
    assert outcome_of(*verdicts(1.0, 2.0)) is Outcome.LOSS
    assert outcome_of(*verdicts(1e-9, 0.0)) is Outcome.WIN
    assert win_probability(0.0, 0.0) == 0.5
    assert win_probability(3.0, 1.0) == pytest.approx(1 / (1 + 2.718281828459045 ** -2))
    assert win_probability(-800.0, 0.0) == 0.0 and win_probability(800.0, 0.0) == 1.0


def test_the_reward_judge_spec() -> None:
    spec = parse_judge_spec("reward:/models/rm")
    assert (spec.kind, spec.model) == ("reward", "/models/rm")


def _pairs(tmp_path: Path) -> Path:
    rows = []
    for i in range(6):
        a, b = MODELS[i % 3], MODELS[(i + 1) % 3]
        rows.append({"id": f"p{i}", "question": TOPICS[i % 4], "model_a": a, "answer_a": f"{a} says {i}",
                     "model_b": b, "answer_b": f"{b} answers with a longer text {i}"})
    rows.append({"id": "same", "question": "Pick a colour.", "model_a": "alpha", "answer_a": "Blue.", "model_b": "beta",
                 "answer_b": "Blue."})  # the same answer: the same score, a tie
    return write_jsonl(tmp_path / "pairs.jsonl", rows)


def _votes(tmp_path: Path) -> Path:
    from evalkit.judge.pairs import read_pairs

    pairs = read_pairs(tmp_path / "pairs.jsonl")
    q0, q1 = pairs[0].question.id, pairs[1].question.id
    return write_jsonl(tmp_path / "votes.jsonl", [
        {"question_id": q0, "model_a": "alpha", "model_b": "beta", "winner": "model_a", "annotator": "ann"},
        {"question_id": q0, "model_a": "beta", "model_b": "alpha", "winner": "model_b", "annotator": "bo"},
        {"question_id": q1, "model_a": "beta", "model_b": "gamma", "winner": "model_b", "annotator": "ann"},
    ])


def _judge(tmp_path: Path, judge: str, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("judge", "--pairs", str(tmp_path / "pairs.jsonl"), "--judge", judge, "--store",
                   str(tmp_path / "s.db"), "--output", str(tmp_path / out), "--device", "cpu", *extra, cwd=tmp_path)


def _made(stderr: str) -> tuple[int, int]:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("judge calls: "))
    made, cached = line.removeprefix("judge calls: ").split(", ")[:2]
    return int(made.split()[0]), int(cached.split()[0])


def test_pairs_judged_by_a_reward_model_end_to_end(reward_dir: Path, tmp_path: Path) -> None:
    pairs = json.loads("[" + ",".join((_pairs(tmp_path)).read_text().splitlines()) + "]")
    _votes(tmp_path)
    proc = _judge(tmp_path, f"reward:{reward_dir}", "first", "--votes", str(tmp_path / "votes.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert _made(proc.stderr) == (13, 0)  # 14 answers, two of them the same text: 13 distinct scores
    records = [json.loads(line) for line in (tmp_path / "first" / "judgments.jsonl").read_text().splitlines()]

    # Each answer's score is the backend's score of (question as the user's turn, answer as the assistant's).
    backend = RewardBackend.load(resolve_model(str(reward_dir)), device="cpu", dtype="float32", batch_size=1)
    requests = [Score((("user", p["question"]),), (("assistant", p[side]),)) for p in pairs
                for side in ("answer_a", "answer_b")]
    expected = collect_responses(backend.score, requests)
    for i, (pair, record) in enumerate(zip(pairs, records, strict=True)):
        score_a, score_b = record["extra"]["scores"]["model_a"], record["extra"]["scores"]["model_b"]
        assert (score_a, score_b) == pytest.approx((expected[2 * i], expected[2 * i + 1]), abs=1e-4)
        assert record["extra"]["pair_id"] == pair["id"]
        assert record["prompt_version"] == "reward-model" and record["judge"] == f"reward#{reward_dir}"
        assert record["outcome"] == ("tie" if score_a == score_b else "win" if score_a > score_b else "loss")
        assert (record["verdict_ab"], record["verdict_ba"]) == {"win": ("A", "B"), "loss": ("B", "A"),
                                                                "tie": ("C", "C")}[record["outcome"]]
    assert records[-1]["outcome"] == "tie"
    assert {r["outcome"] for r in records[:-1]} <= {"win", "loss"}  # never unscored, a tie only on equal scores

    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["pairs"] == 7 and summary["unscored"] == 0 and summary["position_consistency"] == 1.0
    report = summary["agreement"]["judge"]
    assert report["votes"] == 3 and report["votes_unmatched"] == 0
    winner = {"win": "model_a", "loss": "model_b", "tie": "tie"}
    p0, p1 = winner[records[0]["outcome"]], winner[records[1]["outcome"]]
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    agree = [p0 == "model_a", flip[p0] == "model_b", p1 == "model_b"]
    assert report["per_vote"]["value"] == pytest.approx(sum(agree) / 3)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        stored = conn.execute("SELECT verdict_ab, verdict_ba, outcome, prompt_version FROM judgments").fetchall()
    assert sorted(stored) == sorted((r["verdict_ab"], r["verdict_ba"], r["outcome"], "reward-model") for r in records)

    again = _judge(tmp_path, f"reward:{reward_dir}", "second")
    assert again.returncode == 0, again.stderr
    assert _made(again.stderr) == (0, 13)  # a rerun makes no model call
    assert (tmp_path / "second" / "judgments.jsonl").read_text() == (tmp_path / "first" / "judgments.jsonl").read_text()


@pytest.mark.parametrize("extra", [(), ("--mode", "single")], ids=["a-language-model", "single-mode"])
def test_what_a_reward_judge_cannot_do_is_one_line(extra: tuple[str, ...], tiny_model_dir: Path, reward_dir: Path,
                                                   tmp_path: Path) -> None:
    _pairs(tmp_path)
    judge = f"reward:{tiny_model_dir}" if not extra else f"reward:{reward_dir}"
    if extra:  # --pairs refuses single mode itself: judge two answer files instead
        write_jsonl(tmp_path / "q.jsonl", [{"id": "q1", "prompt": "Hi?"}])
        write_jsonl(tmp_path / "a.jsonl", [{"question_id": "q1", "answer": "Hello."}])
        proc = run_cli("judge", "--a", "x", "--b", "y", "--answers-a", str(tmp_path / "a.jsonl"), "--answers-b",
                       str(tmp_path / "a.jsonl"), "--questions", str(tmp_path / "q.jsonl"), "--judge", judge,
                       "--store", str(tmp_path / "s.db"), *extra, cwd=tmp_path)
        assert "--mode pairwise only" in proc.stderr
    else:
        proc = _judge(tmp_path, judge, "o")
        assert "a local transformers model, not a reward model" in proc.stderr
    assert proc.returncode == 2
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1, proc.stderr
