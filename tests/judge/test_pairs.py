"""Given pairs and people's votes on them: files read into rows, every bad row one located line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import UserError
from evalkit.judge.interfaces import Question
from evalkit.judge.pairs import PairRow, question_id_of, read_pair_votes, read_pairs
from tests.conftest import SHARED_DATA

LLMFAO = SHARED_DATA / "arena"


def pair(id: Any = "p1", **fields: Any) -> dict[str, Any]:
    row = {"id": id, "question": "Write a haiku.", "model_a": "m1", "answer_a": "one", "model_b": "m2",
           "answer_b": "two"}
    row.update(fields)
    return {k: v for k, v in row.items() if v is not ...}


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


QUESTIONS = [Question("math-1", "What is 17 * 23?", "math", reference="391"), Question("w-1", "Write a limerick.")]


# -- pairs ------------------------------------------------------------------------------------------------

def test_rows_read_in_order_with_the_hashed_question_id(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [pair("p1"), "", pair("p2", model_a="m3"), pair("p3", question="Another?")])
    first, second, third = read_pairs(path)
    digest = hashlib.sha256(b"Write a haiku.").hexdigest()[:12]
    assert first == PairRow("p1", Question(f"q-{digest}", "Write a haiku."), "m1", "one", "m2", "two")
    assert question_id_of("Write a haiku.") == f"q-{digest}" == second.question.id
    assert (second.model_a, second.model_b) == ("m3", "m2")
    assert third.question.id == "q-" + hashlib.sha256(b"Another?").hexdigest()[:12]


def test_one_category_per_question_given_by_any_of_its_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [pair("p1"), pair("p2", category="poetry", model_b="m3"),
                                        pair("p3", model_b="m4")])
    assert {r.question.category for r in read_pairs(path)} == {"poetry"}
    bad = write(tmp_path / "b.jsonl", [pair("p1"), pair("p2", category="poetry", model_b="m3"),
                                       pair("p3", category="prose", model_b="m4")])
    with pytest.raises(UserError, match=r"b\.jsonl:3: category: 'prose' differs from 'poetry', the category "
                                        r"of question 'q-\w{12}' on line 2$"):
        read_pairs(bad)


def test_question_ids_come_from_the_questions_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [pair("p1", question=..., question_id="math-1"),
                                        pair("p2", question="What is 17 * 23?", question_id="math-1", model_b="m3"),
                                        pair("p3", question="A new one?", question_id="new-1")])
    rows = read_pairs(path, QUESTIONS)
    assert rows[0].question == rows[1].question == QUESTIONS[0]  # reference and category kept
    assert rows[2].question == Question("new-1", "A new one?")


def test_both_fields_without_questions_use_the_id(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [pair("p1", question_id="x"), pair("p2", question_id="x", model_b="m3")])
    rows = read_pairs(path)
    assert [r.question for r in rows] == [Question("x", "Write a haiku.")] * 2


def test_empty_answers_are_answers(tmp_path: Path) -> None:
    rows = read_pairs(write(tmp_path / "p.jsonl", [pair(answer_a="", answer_b="  ")]))
    assert (rows[0].answer_a, rows[0].answer_b) == ("", "  ")


@pytest.mark.parametrize(("rows", "message"), [
    ([pair(), pair(id=...)], "p.jsonl:2: id: missing"),
    ([pair(model_b=None)], "p.jsonl:1: model_b: missing"),
    ([pair(id=7)], "p.jsonl:1: id: expected a string, got int 7"),
    ([pair(answer_a=["x"])], "p.jsonl:1: answer_a: expected a string, got list"),
    ([pair(model_a=" ")], "p.jsonl:1: model_a: must not be empty"),
    ([pair(question="")], "p.jsonl:1: question: must not be empty"),
    ([pair(question=...)], "p.jsonl:1: question: missing"),
    ([pair(question_id="")], "p.jsonl:1: question_id: must not be empty"),
    ([pair(category=3)], "p.jsonl:1: category: expected a string"),
    ([pair("a"), pair("b", model_b="m3"), pair("a")], "p.jsonl:3: id: pair id 'a' appears twice (first on line 1)"),
    ([pair("a"), pair("b", model_a="m2", model_b="m1")],
     "p.jsonl:2: model_b: 'm2' and 'm1' on question 'q-4a85c0ccd31a' are already a pair on line 1"),
    ([pair(model_b="m1")], "p.jsonl:1: model_b: the same model as model_a ('m1')"),
    ([pair(question=..., question_id="math-1")], "p.jsonl:1: question_id: 'math-1' has no text here"),
    ([pair("a", question_id="x"), pair("b", question_id="x", question="Other.")],
     "p.jsonl:2: question: differs from the text of question 'x' on line 1"),
    (['{"id": "p1",'], "p.jsonl:1: not a JSON object"),
    (['["p1"]'], "p.jsonl:1: expected a JSON object, got list"),
    ([], "p.jsonl: no pairs in the file"),
    (["", "  "], "p.jsonl: no pairs in the file"),
])
def test_bad_rows_are_one_located_line(tmp_path: Path, rows: list[Any], message: str) -> None:
    path = write(tmp_path / "p.jsonl", rows)
    with pytest.raises(UserError) as info:
        read_pairs(path)
    text = str(info.value)
    assert message in text and "\n" not in text, text
    assert text.startswith(str(path)) or text.startswith(f"--pairs {path}")


@pytest.mark.parametrize(("row", "message"), [
    (pair(question=..., question_id="math-2"), "p.jsonl:1: question_id: 'math-2' is not in --questions "
                                               "(did you mean 'math-1'?)"),
    (pair(question="What is 17 * 24?", question_id="math-1"),
     "p.jsonl:1: question: differs from the text of question 'math-1' in --questions"),
    (pair(question=..., question_id="math-1", category="coding"),
     "p.jsonl:1: category: 'coding' differs from 'math', the category of question 'math-1' in --questions"),
])
def test_bad_rows_against_the_questions_file(tmp_path: Path, row: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as info:
        read_pairs(write(tmp_path / "p.jsonl", [row]), QUESTIONS)
    assert str(info.value).endswith(message), str(info.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^--pairs .*nope\.jsonl: no such file$"):
        read_pairs(tmp_path / "nope.jsonl")


# -- votes ------------------------------------------------------------------------------------------------

def test_csv_votes_with_and_without_annotators(tmp_path: Path) -> None:
    from evalkit.judge.agreement import HumanVote

    path = tmp_path / "v.csv"
    path.write_text("question_id,model_a,model_b,winner,annotator\nq1,m1,m2,model_a,ann\n\n"
                    "q1,m1,m2,model_a,\nq1,m2,m1,tie (bothbad), bob \nq2,m1,m3,tie,ann\n", encoding="utf-8")
    assert read_pair_votes(path) == [HumanVote("q1", "m1", "m2", "model_a", "ann"),
                                     HumanVote("q1", "m1", "m2", "model_a", None),
                                     HumanVote("q1", "m2", "m1", "tie (bothbad)", "bob"),
                                     HumanVote("q2", "m1", "m3", "tie", "ann")]
    plain = tmp_path / "plain.csv"
    plain.write_text("winner,model_b,model_a,question_id\nmodel_b,m2,m1,q1\n", encoding="utf-8")
    assert read_pair_votes(plain) == [HumanVote("q1", "m1", "m2", "model_b", None)]


def test_jsonl_votes(tmp_path: Path) -> None:
    from evalkit.judge.agreement import HumanVote

    path = write(tmp_path / "v.jsonl", [{"question_id": "q1", "model_a": "m1", "model_b": "m2", "winner": "tie"},
                                        {"question_id": "q1", "model_a": "m1", "model_b": "m2", "winner": "model_b",
                                         "annotator": "ann", "extra": 1}])
    assert read_pair_votes(path) == [HumanVote("q1", "m1", "m2", "tie", None),
                                     HumanVote("q1", "m1", "m2", "model_b", "ann")]


VOTE = {"question_id": "q1", "model_a": "m1", "model_b": "m2", "winner": "model_a"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("v.csv", "question_id,model_a,model_b,winner\nq1,m1,m2,left\n",
     "v.csv:2: winner: 'left' is not one of model_a, model_b, tie, tie (bothbad)"),
    ("v.csv", "question_id,model_a,model_b,winner\nq1,m1,m2,tie\n,m1,m2,tie\n", "v.csv:3: question_id: missing"),
    ("v.csv", "question_id,model_a,model_b,winner\nq1,m1,m1,tie\n", "v.csv:2: model_b: the same model as model_a"),
    ("v.csv", "question_id,model_a,model_b,winner\nq1,m1,m2\n", "v.csv:2: expected 4 fields, found 3"),
    ("v.csv", "model_a,model_b,winner\nm1,m2,tie\n", "v.csv: no column 'question_id' (columns: model_a, model_b"),
    ("v.csv", "", "v.csv: empty file"),
    ("v.csv", "question_id,model_a,model_b,winner\n", "--votes "),
    ("v.jsonl", json.dumps({**VOTE, "winner": "A"}) + "\n", "v.jsonl:1: winner: 'A' is not one of"),
    ("v.jsonl", json.dumps({**VOTE, "question_id": 3}) + "\n", "v.jsonl:1: question_id: expected a string, got int"),
    ("v.jsonl", json.dumps(VOTE) + "\n" + json.dumps({k: v for k, v in VOTE.items() if k != "model_b"}) + "\n",
     "v.jsonl:2: model_b: missing"),
    ("v.jsonl", json.dumps({**VOTE, "annotator": 5}) + "\n", "v.jsonl:1: annotator: expected a string, got int"),
    ("v.jsonl", "{oops\n", "v.jsonl:1: not a JSON object"),
    ("v.jsonl", "\n", "v.jsonl: no votes in the file"),
])
def test_bad_vote_rows_are_one_located_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as info:
        read_pair_votes(path)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_flag_names_a_missing_votes_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^--human-votes .*v\.csv: no such file$"):
        read_pair_votes(tmp_path / "v.csv", flag="--human-votes")


# -- real data --------------------------------------------------------------------------------------------

@pytest.mark.skipif(not (LLMFAO / "llmfao_pairs-crowd.jsonl").is_file(), reason="../shared/data/arena is absent")
def test_llmfao_pairs_and_votes_convert_and_read(tmp_path: Path) -> None:
    """LLMFAO's 2,139 crowd pairs and 8,931 votes, written in these formats (ids as text, the votes'
    left/right as model_a/model_b), read back whole: one question id per prompt text."""
    import csv

    source = [json.loads(line) for line in (LLMFAO / "llmfao_pairs-crowd.jsonl").read_text().splitlines()]
    pairs = write(tmp_path / "pairs.jsonl", [
        {"id": str(p["id"]), "question": p["text"], "category": p["type"], "model_a": str(p["model_x"]),
         "answer_a": p["result_x"], "model_b": str(p["model_y"]), "answer_b": p["result_y"]} for p in source])
    rows = read_pairs(pairs)
    assert len(rows) == 2139
    assert len({r.question.id for r in rows}) == len({p["text"] for p in source})
    assert sum(r.answer_a == "" or r.answer_b == "" for r in rows) == 62
    by_id = {r.id: r for r in rows}
    winners = {"left": "model_a", "right": "model_b", "tie": "tie"}
    votes = tmp_path / "votes.csv"
    with (LLMFAO / "llmfao_crowd_comparisons.csv").open(newline="") as src, votes.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["question_id", "model_a", "model_b", "winner", "annotator"])
        for v in csv.DictReader(src):
            writer.writerow([by_id[v["id"]].question.id, v["model_x"], v["model_y"], winners[v["winner"]], v["worker"]])
    read = read_pair_votes(votes)
    assert len(read) == 8931
    assert len({v.annotator for v in read}) == 124
    assert sum(v.winner == "tie" for v in read) == 3471
