"""Question files: the shipped set loads; a bad file is one located error line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.judge.questions import REFERENCE_CATEGORIES, load_questions

SHIPPED = Path(__file__).resolve().parents[2] / "suites" / "judge" / "questions.yaml"


def test_shipped_set() -> None:
    questions = load_questions(SHIPPED)
    assert len(questions) >= 40
    counts = Counter(q.category for q in questions)
    assert set(counts) == {"writing", "reasoning", "math", "coding", "knowledge"}
    assert min(counts.values()) >= 5
    assert all(q.reference for q in questions if q.category in REFERENCE_CATEGORIES)
    assert sum(q.second_turn is not None for q in questions) >= 3
    assert len({q.id for q in questions}) == len(questions)


def test_jsonl_and_numeric_ids(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 1, "prompt": "Hi?"}\n\n{"id": "x", "prompt": "2+2?", "category": "math", '
                    '"reference": "4", "second_turn": "3+3?"}\n', encoding="utf-8")
    first, second = load_questions(path)
    assert first.id == "1" and first.category is None
    assert (second.reference, second.second_turn) == ("4", "3+3?")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("q.yaml", "questions:\n  - id: a\n    prompt: hi\n  - id: b\n    prompt: hi\n    catgory: math\n",
     "q.yaml:6:5: questions[1].catgory: unknown field for a question"),
    ("q.yaml", "questions:\n  - id: a\n    prompt: hi\n  - id: b\n    promt: hi\n",
     "q.yaml:4:5: questions[1].prompt: required field is missing"),
    ("q.yaml", "questions:\n  - id: a\n    prompt: hi\n  - id: a\n    prompt: again\n",
     "q.yaml:4:5: questions[1].id: duplicate question id 'a'"),
    ("q.yaml", "questions:\n  - id: a\n", "q.yaml:2:5: questions[0].prompt: required field is missing"),
    ("q.yaml", "questions:\n  - id: a\n    prompt: ''\n", "q.yaml:3:5: questions[0].prompt: string should have"),
    ("q.yaml", "questions: []\n", "q.yaml:1:1: questions: list should have at least 1 item"),
    ("q.yaml", "questions:\n  - id: a\n    prompt: x: y\n", "q.yaml:3:14: invalid YAML"),
    ("q.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": "hi", "catgory": "x"}\n',
     'q.jsonl:2:29: catgory: unknown field for a question'),
    ("q.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "a", "prompt": "hi"}\n', "q.jsonl:2:2: id: duplicate"),
    ("q.jsonl", '{"id": "a", "prompt": "hi"}\n{"id": "b", \n', "q.jsonl:2:13: invalid JSON"),
    ("q.jsonl", '["a"]\n', "q.jsonl:1:1: expected a JSON object"),
])
def test_bad_files_are_located(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_questions(path, shown_as=name)
    assert str(info.value).startswith(message), str(info.value)
