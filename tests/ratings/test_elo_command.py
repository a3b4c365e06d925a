"""``evalkit elo`` end to end: JSON shape, tables, the store's votes and judgments, one-line errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.store import Store

REPO = Path(__file__).resolve().parents[2]
LLMFAO = REPO.parent / "shared" / "data" / "arena" / "llmfao_crowd_comparisons.csv"


def _write(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,winner\n" + "".join(f"{a},{b},{w}\n" for a, b, w in rows))
    return path


def test_json_has_only_the_methods_asked_and_fastchat_numbers(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [("A", "B", w) for w in ("model_a", "model_a", "tie", "tie (bothbad)")])
    assert main(["elo", str(path), "--json", "--bootstrap", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["bt"]
    assert out["bt"]["A"]["rating"] == pytest.approx(1095.4243, abs=5e-5)
    assert out["bt"]["B"]["rating"] == pytest.approx(904.5757, abs=5e-5)
    assert set(out["bt"]["A"]) >= {"rating", "lower", "upper", "rank", "votes"} and out["bt"]["A"]["votes"] == 4

    one = _write(tmp_path, [("A", "B", "model_a")])
    assert main(["elo", str(one), "--json", "--method", "elo", "--bootstrap", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["elo"] and out["elo"]["A"]["rating"] == 1002 and out["elo"]["B"]["rating"] == 998


def test_both_methods_same_seed_same_numbers_and_anchor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("A", "B", "model_a"), ("B", "C", "model_a"), ("C", "A", "tie"), ("A", "C", "model_b"),
            ("B", "A", "model_a"), ("C", "B", "tie")] * 5
    path = _write(tmp_path, rows)
    runs = []
    for extra in (["--method", "both"], ["--method", "bt"], ["--method", "both"]):
        assert main(["elo", str(path), "--json", "--seed", "3", "--bootstrap", "30", *extra]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0] == runs[2] and runs[0]["bt"] == runs[1]["bt"] and set(runs[0]) == {"bt", "elo"}
    assert main(["elo", str(path), "--json", "--anchor", "B=1200", "--bootstrap", "10"]) == 0
    anchored = json.loads(capsys.readouterr().out)["bt"]
    assert anchored["B"]["rating"] == pytest.approx(1200)
    assert anchored["A"]["rating"] - anchored["C"]["rating"] == pytest.approx(
        runs[1]["bt"]["A"]["rating"] - runs[1]["bt"]["C"]["rating"])


def test_only_wins_and_disconnected_groups_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [("A", "B", "model_a"), ("B", "C", "model_a"), ("C", "B", "model_a"),
                             ("D", "E", "model_a"), ("E", "D", "model_a")])
    assert main(["elo", str(path), "--bootstrap", "5"]) == 0
    captured = capsys.readouterr()
    assert "(only wins)" in captured.out and "inf" in captured.out
    assert "no finite maximum-likelihood rating for A" in captured.err
    assert "falls apart into 2 groups" in captured.err


@pytest.mark.parametrize(("args", "message"), [
    (["--values", "left=first"], "--values"),
    (["--anchor", "Z=1000"], "--anchor: 'Z' has no votes"),
    (["--columns", "l,r,w"], "no column 'l'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                      message: str) -> None:
    path = _write(tmp_path, [("A", "B", "model_a"), ("B", "A", "tie")])
    assert main(["elo", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_winner_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [("A", "B", "model_a"), ("B", "A", "draw")])
    assert main(["elo", str(path)]) == 2
    assert f"{path}:3: winner: 'draw'" in capsys.readouterr().err


def test_votes_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store:
        for winner in ("model_a", "model_a", "tie", "tie (bothbad)"):
            store.add_vote(store.add_battle("q1", "A", "B", annotator="h"), "h", winner)
    assert main(["elo", "--store", str(db), "--json", "--bootstrap", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["bt"]["A"]["rating"] == pytest.approx(1095.4243, abs=5e-5)


def test_votes_from_stored_judgments_leave_unscored_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.judge.interfaces import Outcome, PairJudgment, PairVerdict
    from evalkit.judge.records import pair_record

    db = tmp_path / "s.db"
    outcomes = [Outcome.WIN, Outcome.WIN, Outcome.TIE, Outcome.UNSCORED, Outcome.TIE]
    with Store(db) as store:  # as `evalkit judge` stores them: one row per question
        store.put_judgments([pair_record(PairJudgment(
            question_id=f"q{i}", model_a="A", model_b="B", judge="http://127.0.0.1:1/v1#j", prompt_version="v",
            mode="pairwise", verdict_ab=PairVerdict.A, verdict_ba=PairVerdict.B, raw_ab="", raw_ba="",
            outcome=outcome)) for i, outcome in enumerate(outcomes)])
    assert main(["elo", "--store", str(db), "--from-judgments", "--json", "--bootstrap", "0"]) == 0
    out = json.loads(capsys.readouterr().out)["bt"]
    assert out["A"]["votes"] == 4 and out["A"]["rating"] == pytest.approx(1095.4243, abs=5e-5)


def test_a_store_without_judgments_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE IF EXISTS judgments")
    conn.commit()
    conn.close()
    assert main(["elo", "--store", str(db), "--from-judgments"]) == 2
    assert "no judge verdicts" in capsys.readouterr().err


@pytest.mark.skipif(not LLMFAO.exists(), reason=f"{LLMFAO} absent (shared data beside the checkout)")
def test_llmfao_crowd_votes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["elo", str(LLMFAO), "--columns", "left,right,winner", "--values", "left=model_a,right=model_b",
                 "--json", "--bootstrap", "5"]) == 0
    out = json.loads(capsys.readouterr().out)["bt"]
    assert len(out) == 59 and sum(r["votes"] for r in out.values()) == 2 * 8931
    assert sum(r["rating"] for r in out.values()) / 59 == pytest.approx(1000)


def test_min_votes_leaves_models_out_and_ridge_makes_ratings_finite(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [("A", "B", "model_a"), ("B", "A", "tie"), ("A", "C", "model_a")])
    assert main(["elo", str(path), "--json", "--bootstrap", "0", "--min-votes", "2"]) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)["bt"]) == {"A", "B"} and "leaves out 1 models" in captured.err
    assert main(["elo", str(path), "--json", "--bootstrap", "0", "--ridge", "0.1"]) == 0
    ratings = {m: r["rating"] for m, r in json.loads(capsys.readouterr().out)["bt"].items()}
    assert all(isinstance(r, float) for r in ratings.values()) and ratings["A"] > ratings["B"] > ratings["C"]
