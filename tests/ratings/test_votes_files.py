"""Reading votes: Arena's columns, mapped columns and values, and bad rows named by file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import UserError
from evalkit.ratings.votes import Winner, annotator_id, parse_value_map, read_votes_file


def test_arena_csv_and_jsonl_read_the_same(tmp_path: Path) -> None:
    csv_path = tmp_path / "v.csv"
    csv_path.write_text("model_a,model_b,winner\nx,y,model_a\ny,z,tie (bothbad)\nz,x,model_b\nx,z,tie\n")
    jsonl = tmp_path / "v.jsonl"
    rows = [("x", "y", "model_a"), ("y", "z", "tie (bothbad)"), ("z", "x", "model_b"), ("x", "z", "tie")]
    jsonl.write_text("".join(f'{{"model_a": "{a}", "model_b": "{b}", "winner": "{w}"}}\n' for a, b, w in rows))
    for path in (csv_path, jsonl):
        votes = read_votes_file(path)
        assert votes.models == ("x", "y", "z")
        assert votes.model_a.tolist() == [0, 1, 2, 0] and votes.model_b.tolist() == [1, 2, 0, 2]
        assert votes.score_a.tolist() == [1.0, 0.5, 0.0, 0.5]
        assert votes.votes_per_model().tolist() == [3, 2, 3]


def test_mapped_columns_and_values(tmp_path: Path) -> None:
    path = tmp_path / "llmfao.csv"
    path.write_text("id,winner,left,right\n0,left,p,q\n1,right,p,q\n2,tie,q,p\n")
    votes = read_votes_file(path, ("left", "right", "winner"), parse_value_map("left=model_a, right=model_b"))
    assert votes.score_a.tolist() == [1.0, 0.0, 0.5] and votes.models == ("p", "q")


@pytest.mark.parametrize(("text", "message"), [
    ("model_a,model_b,winner\nx,y,model_a\nx,y,left\n", "v.csv:3: winner: 'left' is not one of model_a"),
    ("model_a,model_b,winner\nx,x,tie\n", "v.csv:2: 'x' against itself"),
    ("model_a,model_b,result\nx,y,tie\n", "v.csv: no column 'winner' (columns: model_a, model_b, result"),
    ("model_a,model_b,winner\nx,y\n", "v.csv:2: expected 3 fields, found 2"),
    ("model_a,model_b,winner\n", "v.csv: no votes"),
])
def test_bad_csv_is_one_located_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "v.csv"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        read_votes_file(path)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(("text", "message"), [
    ('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x"\n', "v.jsonl:2: not a JSON object"),
    ('\n{"model_a": "x", "model_b": "y"}\n', "v.jsonl:2: no field 'winner'"),
    ('{"model_a": "x", "model_b": "y", "winner": 1}\n', "v.jsonl:1: winner: 1 is not one of"),
])
def test_bad_jsonl_is_one_located_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        read_votes_file(path)


def test_value_map_is_checked() -> None:
    with pytest.raises(UserError, match="--values"):
        parse_value_map("left=first")


def test_keep_models_renumbers(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\ny,z,tie\nz,x,model_b\n")
    votes = read_votes_file(path).keep_models(np.array([False, True, True]))
    assert votes.models == ("y", "z") and votes.model_a.tolist() == [0] and votes.model_b.tolist() == [1]


def test_winner_scores_and_annotator_hash() -> None:
    assert [w.score_a for w in Winner] == [1.0, 0.0, 0.5, 0.5]
    assert annotator_id("ann", "s1") != annotator_id("ann", "s2") and len(annotator_id("ann", "s1")) == 64
