"""``evalkit score humaneval --predictions FILE``: completions made elsewhere, scored by the same code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, write_jsonl


def _table(stdout: str) -> dict[str, tuple[float, int]]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "humaneval":
            rows[parts[1]] = (float(parts[3]), int(parts[-1]))
    return rows


def test_scores_several_completions_per_task_and_writes_per_item_results(tmp_path: Path,
                                                                         problems: list[dict[str, Any]]) -> None:
    rows = []
    for i, p in enumerate(problems[:4]):
        rows.append({"task_id": p["task_id"], "completion": p["canonical_solution"], "note": i})
        rows.append({"task_id": p["task_id"], "completion": ""})
    rows.append({"task_id": problems[0]["task_id"], "completion": "    return True\n"})  # 3 for the first
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    proc = run_cli("score", "humaneval", "--predictions", str(preds), "--k", "1,2,3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = _table(proc.stdout)
    # pass@1 per problem (1/3, 1/2, 1/2, 1/2), then averaged; pass@3 skipped (3 > 2 for some).
    assert table["pass@1"][0] == pytest.approx(round((1 / 3 + 0.5 * 3) / 4, 4))
    assert table["pass@1"][1] == 4
    assert table["pass@2"][0] == pytest.approx(round((2 / 3 + 1 * 3) / 4, 4))
    assert "pass@3" not in table and "not reported: pass@3" in proc.stdout
    results = [json.loads(line) for line in (tmp_path / "preds_results.jsonl").read_text().splitlines()]
    assert len(results) == len(rows)
    assert [r["task_id"] for r in results] == [r["task_id"] for r in rows]  # input order
    assert [r["passed"] for r in results] == [True, False] * 4 + [False]
    assert results[0]["note"] == 0 and results[0]["result"] == "passed"  # the input line, plus the outcome
    assert results[1]["result"] == "failed" and "AssertionError" in results[1]["detail"]


def test_output_flag_and_default_k(tmp_path: Path, problems: list[dict[str, Any]]) -> None:
    preds = write_jsonl(tmp_path / "in" / "p.jsonl", [{"task_id": p["task_id"], "completion": p["canonical_solution"]}
                                                     for p in problems[:3]])
    out = tmp_path / "scored.jsonl"
    proc = run_cli("score", "humaneval", "--predictions", str(preds), "--output", str(out), "--workers", "1",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _table(proc.stdout) == {"pass@1": (1.0, 3)}  # pass@10 and pass@100 need more samples
    assert "not reported: pass@10, pass@100" in proc.stdout
    assert len(out.read_text().splitlines()) == 3
    assert not (tmp_path / "in" / "p_results.jsonl").exists()


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "no predictions"),
    ('{"task_id": "HumanEval/0", "completion": "x"}\nnot json\n', "preds.jsonl:2: not a JSON object"),
    ('{"task_id": "HumanEval/0"}\n', "preds.jsonl:1: expected an object with task_id and completion"),
    ('["HumanEval/0", "x"]\n', "preds.jsonl:1: expected a JSON object, got list"),
    ('{"task_id": "HumanEval/999", "completion": "x"}\n', "unknown task_id 'HumanEval/999'"),
    ('{"task_id": "HumanEval/0", "completion": 3}\n', "preds.jsonl:1: expected"),
])
def test_bad_prediction_files_are_one_line_errors(content: str | None, message: str, tmp_path: Path) -> None:
    preds = tmp_path / "preds.jsonl"
    if content is not None:
        preds.write_text(content)
    proc = run_cli("score", "humaneval", "--predictions", str(preds), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "preds_results.jsonl").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--isolation", "none"], "--allow-unsandboxed"),
    (["--k", "0"], "--k"),
    (["--k", "a,b"], "--k"),
    (["--timeout", "0"], "--timeout"),
    (["--dataset", "missing.jsonl"], "missing.jsonl"),
])
def test_bad_flags_are_one_line_errors(flags: list[str], message: str, tmp_path: Path,
                                       problems: list[dict[str, Any]]) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [{"task_id": problems[0]["task_id"], "completion": ""}])
    proc = run_cli("score", "humaneval", "--predictions", str(preds), *flags, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_unsandboxed_only_on_explicit_request(tmp_path: Path, problems: list[dict[str, Any]]) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [{"task_id": problems[0]["task_id"],
                                                "completion": problems[0]["canonical_solution"]}])
    proc = run_cli("score", "humaneval", "--predictions", str(preds), "--isolation", "none", "--allow-unsandboxed",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "isolation none" in proc.stdout and _table(proc.stdout)["pass@1"] == (1.0, 1)


def test_local_problem_file(tmp_path: Path, problems: list[dict[str, Any]]) -> None:
    own = dict(problems[0], task_id="Mine/0")
    write_jsonl(tmp_path / "problems.jsonl", [own])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"task_id": "Mine/0", "completion": own["canonical_solution"]}])
    proc = run_cli("score", "humaneval", "--predictions", str(preds), "--dataset", "problems.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _table(proc.stdout)["pass@1"] == (1.0, 1)
