"""Judge question files: YAML or JSONL, validated once into :class:`~evalkit.judge.interfaces.Question`.

YAML (``suites/judge/questions.yaml`` is the shipped example)::

    description: optional text
    questions:
      - id: math-01
        category: math
        prompt: "What is 17 * 23?"
        reference: "391"
        second_turn: "And 17 * 24?"   # optional follow-up user turn

JSONL: one such question object per line. Unknown keys, missing ``id``/``prompt``, empty prompts and
duplicate ids are errors located as ``file:line:col: field: message`` (the suites' reporting, reused),
raised before anything is generated or judged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evalkit.errors import ConfigError
from evalkit.judge.interfaces import Question
from evalkit.validation import validate
from evalkit.yaml_source import Loc, SourceMap, load_yaml

# The categories whose questions should carry a reference answer (reference-guided grading).
REFERENCE_CATEGORIES = frozenset({"math", "coding"})


class QuestionSpec(BaseModel):
    """One question as written in a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An id written as a bare number in YAML is still an id, not a quantity: kept as text.
    id: str | int = Field(description="unique within the file")
    prompt: str = Field(min_length=1, description="the first user turn")
    category: str | None = Field(None, min_length=1, description="writing, reasoning, math, coding, ...")
    reference: str | None = Field(None, min_length=1, description="a reference answer (math, coding)")
    second_turn: str | None = Field(None, min_length=1, description="an optional follow-up user turn")

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    def to_question(self) -> Question:
        return Question(id=str(self.id), prompt=self.prompt, category=self.category,
                        reference=self.reference, second_turn=self.second_turn)


class QuestionFile(BaseModel):
    """A YAML question file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    questions: list[dict[str, Any]] = Field(min_length=1)


def load_questions(path: Path, shown_as: str | None = None) -> list[Question]:
    """The questions of ``path`` (``.jsonl`` is JSON lines, anything else YAML), in file order.

    Raises :class:`~evalkit.errors.ConfigError` (``file:line:col: field: message``) for the first problem.
    """
    shown = shown_as or str(path)
    located: list[tuple[dict[str, Any], SourceMap, Loc]]
    if path.suffix.lower() == ".jsonl":
        located = list(_jsonl_items(path, shown))
    else:
        data, source = load_yaml(path, shown)
        if not isinstance(data, dict):
            raise source.error((), "expected a mapping with a 'questions' list")
        parsed: QuestionFile = validate(QuestionFile, data, source, (), owner="a question file")
        located = []
        for i, item in enumerate(parsed.questions):
            if not isinstance(item, dict):
                raise source.error(("questions", i), "expected a mapping with id and prompt")
            located.append((item, source, ("questions", i)))
    questions: list[Question] = []
    seen: set[str] = set()
    for item, source, loc in located:
        spec: QuestionSpec = validate(QuestionSpec, item, source, loc, owner="a question")
        question = spec.to_question()
        if question.id in seen:
            raise source.error(loc + ("id",), f"duplicate question id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    return questions


def _jsonl_items(path: Path, shown: str) -> list[tuple[dict[str, Any], SourceMap, Loc]]:
    """Each line's object with a source map that locates its keys on that line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(shown, None, None, "", f"cannot read file ({exc.strerror})") from None
    items: list[tuple[dict[str, Any], SourceMap, Loc]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(shown, number, exc.colno, "", f"invalid JSON: {exc.msg}") from None
        source = SourceMap(shown, {(): (number, 1)})
        if not isinstance(item, dict):
            raise source.error((), "expected a JSON object with id and prompt")
        for key in item:
            # The column of the key as written (json.dumps quoting), so a message points at it.
            column = line.find(json.dumps(key))
            source.marks[(key,)] = (number, column + 1 if column >= 0 else 1)
        items.append((item, source, ()))
    if not items:
        raise ConfigError(shown, None, None, "", "no questions in the file")
    return items


__all__ = ["REFERENCE_CATEGORIES", "QuestionFile", "QuestionSpec", "load_questions"]
