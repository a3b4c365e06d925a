"""Given answer pairs (``evalkit judge --pairs FILE``) and people's votes on them (``--votes FILE``).

Pairs file: JSONL, one pair per line::

    {"id": "p1", "question": "Write a haiku about SQL.", "model_a": "m1", "answer_a": "...",
     "model_b": "m2", "answer_b": "...", "category": "writing"}

- ``id``: the pair's id, unique within the file.
- ``question`` (the prompt text) and/or ``question_id``: with only ``question``, the question's id is
  ``q-`` followed by the first 12 hex digits of the SHA-256 of its UTF-8 text, so pairs asking the same
  question share one id. With both, ``question_id`` is the id and ``question`` the text. With only
  ``question_id``, the question comes from the ``--questions`` file. One id has one text: a second text
  for it, in the file or against ``--questions``, is an error.
- ``model_a``, ``answer_a``, ``model_b``, ``answer_b``: two different models and their answers. An answer
  may be empty (a model that said nothing is judged as such: LLMFAO has 62 such pairs); every other
  field must be a non-empty string.
- ``category``: optional; one question id has one category.

Other keys are ignored (pair files are often exported with extra columns).

Votes file: what ``evalkit elo`` reads (CSV with a header row, or JSONL: ``.jsonl``/``.ndjson``), with
the pair's question: columns ``question_id``, ``model_a``, ``model_b``, ``winner`` (Chatbot Arena's
values ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``) and an optional ``annotator`` (empty or
absent: unknown). A pair may have any number of votes.

Every bad row is one :class:`~evalkit.errors.UserError` line ``file:line: column: message``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError
from evalkit.judge.interfaces import Question

if TYPE_CHECKING:
    from evalkit.judge.agreement import HumanVote

#: The fields of a pairs-file row besides ``question``/``question_id``, all required.
PAIR_FIELDS = ("id", "model_a", "answer_a", "model_b", "answer_b")
#: The columns of a votes file; ``annotator`` may be left out.
VOTE_COLUMNS = ("question_id", "model_a", "model_b", "winner")
_ANSWERS = frozenset({"answer_a", "answer_b"})


@dataclass(frozen=True)
class PairRow:
    """One given pair: two models' answers to one question."""

    id: str
    question: Question
    model_a: str
    answer_a: str
    model_b: str
    answer_b: str


def question_id_of(text: str) -> str:
    """The id of a question given only by its text: ``q-`` and 12 hex digits of SHA-256 of the text."""
    return "q-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# -- pairs ------------------------------------------------------------------------------------------------


def read_pairs(path: Path, questions: Sequence[Question] | None = None) -> list[PairRow]:
    """The pairs of ``path`` in file order (module docstring), questions resolved against ``questions``
    (the ``--questions`` file) where a row names only a ``question_id``.

    Raises :class:`UserError` naming ``file:line: column`` for the first bad row, or the file when it
    cannot be read or holds no pairs.
    """
    from evalkit.data import read_json_lines

    if not path.is_file():
        raise UserError(f"--pairs {path}: no such file")
    given = {q.id: q for q in questions or ()}
    found = _FileQuestions(given, have_questions=questions is not None)
    seen_ids: dict[str, int] = {}
    # A judgment is stored per (question, two models), and votes are matched to pairs by the same key.
    seen_pairs: dict[tuple[str, frozenset[str]], int] = {}
    rows: list[tuple[str, str, dict[str, str]]] = []  # (pair id, question id, fields)
    for number, row in read_json_lines(path):
        where = f"{path}:{number}"
        values = {name: _text(row, name, where, empty=name in _ANSWERS) for name in PAIR_FIELDS}
        if values["id"] in seen_ids:
            raise UserError(f"{where}: id: pair id {values['id']!r} appears twice (first on line "
                            f"{seen_ids[values['id']]})")
        seen_ids[values["id"]] = number
        if values["model_a"] == values["model_b"]:
            raise UserError(f"{where}: model_b: the same model as model_a ({values['model_a']!r}): "
                            "a pair needs two different models")
        question_id = found.add(row, where, number)
        key = (question_id, frozenset((values["model_a"], values["model_b"])))
        if key in seen_pairs:
            raise UserError(f"{where}: model_b: {values['model_a']!r} and {values['model_b']!r} on question "
                            f"{question_id!r} are already a pair on line {seen_pairs[key]} (a question's pair of "
                            "models is judged once, and people's votes are matched to it)")
        seen_pairs[key] = number
        rows.append((values["id"], question_id, values))
    if not rows:
        raise UserError(f"--pairs {path}: no pairs in the file")
    resolved = found.questions()
    return [PairRow(pid, resolved[qid], v["model_a"], v["answer_a"], v["model_b"], v["answer_b"])
            for pid, qid, v in rows]


def _text(row: dict[str, Any], name: str, where: str, *, empty: bool = False) -> str:
    """``row[name]`` as a string: present, a string, and (unless ``empty``) not blank."""
    if name not in row or row[name] is None:
        raise UserError(f"{where}: {name}: missing")
    value = row[name]
    if not isinstance(value, str):
        raise UserError(f"{where}: {name}: expected a string, got {type(value).__name__} {value!r}")
    if not empty and not value.strip():
        raise UserError(f"{where}: {name}: must not be empty")
    return value


class _FileQuestions:
    """The questions a pairs file asks: one text and at most one category per id, checked row by row.

    A question of ``--questions`` is taken whole (its reference and second turn too); a row may repeat its
    text and category but not change them. A question the file defines gets its text from the first row
    that gives it, and the category some row gives (rows without one leave it open).
    """

    def __init__(self, given: dict[str, Question], have_questions: bool) -> None:
        self.given = given
        self.have_questions = have_questions
        self.texts: dict[str, tuple[str, int]] = {}  # question id -> (text, line that gave it)
        self.categories: dict[str, tuple[str, int]] = {}

    def add(self, row: dict[str, Any], where: str, number: int) -> str:
        """Check the row's question against what is known; its question id."""
        has_text, has_id = row.get("question") is not None, row.get("question_id") is not None
        if not has_text and not has_id:
            raise UserError(f"{where}: question: missing (give the question's text in 'question', or its id "
                            "in 'question_id' with --questions)")
        text = _text(row, "question", where) if has_text else None
        category = _text(row, "category", where) if row.get("category") is not None else None
        qid = _text(row, "question_id", where) if has_id else question_id_of(text or "")
        if qid in self.given:
            known = self.given[qid]
            if text is not None and text != known.prompt:
                raise UserError(f"{where}: question: differs from the text of question {qid!r} in --questions")
            if category is not None and category != known.category:
                raise UserError(f"{where}: category: {category!r} differs from {known.category!r}, the category of "
                                f"question {qid!r} in --questions")
            return qid
        if text is None:
            if not self.have_questions:
                raise UserError(f"{where}: question_id: {qid!r} has no text here: give it in 'question' or load "
                                "the questions with --questions")
            raise UserError(f"{where}: question_id: {qid!r} is not in --questions{_close(qid, self.given)}")
        first_text, line = self.texts.setdefault(qid, (text, number))
        if text != first_text:
            raise UserError(f"{where}: question: differs from the text of question {qid!r} on line {line}")
        if category is not None:
            first_category, line = self.categories.setdefault(qid, (category, number))
            if category != first_category:
                raise UserError(f"{where}: category: {category!r} differs from {first_category!r}, the category of "
                                f"question {qid!r} on line {line}")
        return qid

    def questions(self) -> dict[str, Question]:
        """Every question seen, by id."""
        made = {qid: Question(id=qid, prompt=text, category=self.categories.get(qid, (None, 0))[0])
                for qid, (text, _) in self.texts.items()}
        return {**self.given, **made}


def _close(qid: str, given: dict[str, Question]) -> str:
    import difflib

    near = difflib.get_close_matches(qid, list(given), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


# -- votes ------------------------------------------------------------------------------------------------


def read_pair_votes(path: Path, flag: str = "--votes") -> list[HumanVote]:
    """People's votes in ``path`` (module docstring), in file order; several per pair allowed.

    Raises :class:`UserError` naming ``file:line: column`` for the first bad row, or the file when it
    cannot be read, lacks a column or holds no votes.
    """
    from evalkit.judge.agreement import HumanVote

    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file")
    votes: list[HumanVote] = []

    def add(where: str, get: Callable[[str], object]) -> None:
        values = {}
        for column in VOTE_COLUMNS:
            value = get(column)
            if value is None or value == "":
                raise UserError(f"{where}: {column}: missing")
            if not isinstance(value, str):
                raise UserError(f"{where}: {column}: expected a string, got {type(value).__name__} {value!r}")
            values[column] = value
        _check_winner(values["winner"], where)
        if values["model_a"] == values["model_b"]:
            raise UserError(f"{where}: model_b: the same model as model_a ({values['model_a']!r}): "
                            "a vote needs two different models")
        annotator = get("annotator")
        if annotator is not None and not isinstance(annotator, str):
            raise UserError(f"{where}: annotator: expected a string, got {type(annotator).__name__} {annotator!r}")
        named = annotator.strip() if isinstance(annotator, str) else ""
        votes.append(HumanVote(values["question_id"], values["model_a"], values["model_b"], values["winner"],
                               named or None))

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        from evalkit.data import read_json_lines

        for number, obj in read_json_lines(path):
            add(f"{path}:{number}", obj.get)
    else:
        _read_csv(path, add)
    if not votes:
        raise UserError(f"{flag} {path}: no votes in the file")
    return votes


def _check_winner(value: str, where: str) -> None:
    from evalkit.ratings.votes import WINNER_VALUES, Winner

    if value not in {w.value for w in Winner}:
        raise UserError(f"{where}: winner: {value!r} is not one of {WINNER_VALUES}")


def _cells(row: list[str], index: dict[str, int]) -> Callable[[str], object]:
    """A CSV row's value of a column by name (``None`` for a column the file lacks)."""
    return lambda column: row[index[column]] if column in index else None


def _read_csv(path: Path, add: Callable[[str, Callable[[str], object]], None]) -> None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise UserError(f"{path}: empty file (expected a header row with {', '.join(VOTE_COLUMNS)})")
            missing = [c for c in VOTE_COLUMNS if c not in header]
            if missing:
                raise UserError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)}; a votes file "
                                f"has {', '.join(VOTE_COLUMNS)} and optionally annotator)")
            index = {name: i for i, name in enumerate(header)}
            for row in reader:
                if not row:
                    continue
                where = f"{path}:{reader.line_num}"
                if len(row) != len(header):
                    raise UserError(f"{where}: expected {len(header)} fields, found {len(row)}")
                add(where, _cells(row, index))
    except OSError as error:
        raise UserError(f"{path}: cannot read votes ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise UserError(f"{path}: not a CSV file ({error})") from None


__all__ = ["PAIR_FIELDS", "VOTE_COLUMNS", "PairRow", "question_id_of", "read_pair_votes", "read_pairs"]
