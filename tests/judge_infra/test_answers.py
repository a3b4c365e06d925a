"""Contestants' answers: through the engine (chat template, or the plain format for a base model),
cached in the store; answers files read and written; the self-preference warning."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.judge.answers import (
    PLAIN_STOP,
    AnswerSettings,
    generate_answers,
    has_chat_template,
    plain_prompt,
    read_answers,
    self_preference_warning,
    write_answers,
)
from evalkit.judge.interfaces import Answer, Question
from evalkit.models.resolve import resolve_model
from evalkit.store import Store

QUESTIONS = [Question("q1", "Name a primary colour."),
             Question("q2", "What is 2 + 2?", category="math", reference="4", second_turn="And 3 + 3?")]
SETTINGS = AnswerSettings(max_gen_toks=4, device="cpu", batch_size=2)


def _cached_requests(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        return [json.loads(r) for (r,) in conn.execute("SELECT request FROM request_cache")]


def test_chat_model_answers_through_the_engine_and_a_rerun_is_cached(tiny_model_dir: Path, tmp_path: Path) -> None:
    ref = resolve_model(str(tiny_model_dir))
    assert has_chat_template(ref)
    with Store(tmp_path / "s.db") as store:
        answers, stats = generate_answers(QUESTIONS, ref, store=store, settings=SETTINGS, progress=False)
        assert [a.question_id for a in answers] == ["q1", "q2"]
        assert answers[0].second_answer is None and isinstance(answers[1].second_answer, str)
        assert (stats.total, stats.cached, stats.computed) == (3, 0, 3)  # two first turns, one second turn
        again, stats = generate_answers(QUESTIONS, ref, store=store, settings=SETTINGS, progress=False)
        assert again == answers and (stats.cached, stats.computed) == (3, 0)
    contexts = [r["context"] for r in _cached_requests(tmp_path / "s.db")]
    assert all(c.startswith("<|im_start|>") for c in contexts)  # SmolLM2's ChatML template
    second = next(c for c in contexts if "And 3 + 3?" in c)
    assert second.index("What is 2 + 2?") < second.index("<|im_start|>assistant") < second.index("And 3 + 3?")


def test_base_model_answers_from_the_plain_format_with_a_warning(tiny_model_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base-model"
    shutil.copytree(tiny_model_dir, base)
    (base / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((base / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    ref = resolve_model(str(base))
    assert not has_chat_template(ref)
    with Store(tmp_path / "s.db") as store:
        answers, _ = generate_answers(QUESTIONS, ref, store=store, settings=SETTINGS, progress=False)
    assert "has no chat template" in capsys.readouterr().err
    requests = _cached_requests(tmp_path / "s.db")
    assert {r["context"] for r in requests} >= {"Question: Name a primary colour.\n\nAnswer:",
                                                "Question: What is 2 + 2?\n\nAnswer:"}
    assert all(r["until"] == [PLAIN_STOP] for r in requests)
    second = next(r["context"] for r in requests if "And 3 + 3?" in r["context"])
    assert second == plain_prompt([("What is 2 + 2?", answers[1].answer), ("And 3 + 3?", None)])
    assert second.endswith("\n\nQuestion: And 3 + 3?\n\nAnswer:")


def test_answers_files_round_trip_and_bad_files_are_one_line(tmp_path: Path) -> None:
    answers = [Answer("q1", "Red."), Answer("q2", "4", "6")]
    path = tmp_path / "answers.jsonl"
    write_answers(path, answers)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"question_id": "q1", "answer": "Red."}, {"question_id": "q2", "answer": "4", "second_answer": "6"}]
    assert read_answers(path, list(reversed(QUESTIONS)), "--answers-a") == list(reversed(answers))

    cases = {
        '{"question_id": "q1", "answer": "x"}\nnot json\n': r"answers.jsonl:2: not a JSON object",
        '{"question_id": "q1"}\n': r"answers.jsonl:1: expected an object with question_id and answer",
        '{"question_id": "q1", "answer": "a"}\n{"question_id": "q1", "answer": "b"}\n':
            r":2: question_id 'q1' appears twice",
        '{"question_id": "q1", "answer": "a"}\n': r"--answers-a .*: no answer for 1 question\(s\), first 'q2'",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(UserError, match=message):
            read_answers(path, QUESTIONS, "--answers-a")
    with pytest.raises(UserError, match="no such file"):
        read_answers(tmp_path / "missing.jsonl", QUESTIONS, "--answers-b")


def test_self_preference_is_warned(capsys: pytest.CaptureFixture[str]) -> None:
    assert self_preference_warning("smollm2-135m-instruct", "fp-judge",
                                   {"smollm2-135m-instruct": "fp-a", "gemma3-270m": "fp-b"})
    assert "self-preference" in capsys.readouterr().err
    assert self_preference_warning("./judge-copy", "fp-b", {"a": "fp-a", "b": "fp-b"})  # same weights, other name
    assert self_preference_warning("gpt-judge", None, {"a": None, "b": "fp-b"}) is None
