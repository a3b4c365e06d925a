"""Exporting a stored run as lm-eval style JSON and as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import ResultRow, Store
from evalkit.store.export import export_run

RUN_ID = "20250301-120000-abcd"


@pytest.fixture
def store(store_spec: str | Path) -> Iterator[Store]:
    with Store(store_spec) as opened:
        opened.create_run(
            RUN_ID, "suites/smoke.yaml", "cd" * 32, "fp-1", "tiny-model", {"limit": 50, "seed": 1234}, "/out"
        )
        opened.add_results(
            RUN_ID,
            [
                ResultRow("hellaswag", "acc", "none", 0.31, 0.0465, 100),
                ResultRow("hellaswag", "acc_norm", "none", 0.35, 0.0479, 100),
                ResultRow("gsm8k", "exact_match", "strict-match", 0.02, None, 50),
                ResultRow("gsm8k", "exact_match", "flexible-extract", 0.06, 0.0339, 50),
            ],
        )
        opened.finish_run(RUN_ID, "finished", {"wall_s": 3.5})
        yield opened


def test_json_export_uses_lm_eval_keys(store: Store) -> None:
    text = export_run(store, RUN_ID, "json")
    assert text.endswith("\n")
    doc = json.loads(text)
    assert doc["results"] == {
        "gsm8k": {
            "exact_match,flexible-extract": 0.06,
            "exact_match_stderr,flexible-extract": 0.0339,
            "exact_match,strict-match": 0.02,
            "exact_match_stderr,strict-match": "N/A",
        },
        "hellaswag": {
            "acc,none": 0.31,
            "acc_stderr,none": 0.0465,
            "acc_norm,none": 0.35,
            "acc_norm_stderr,none": 0.0479,
        },
    }
    assert doc["n-samples"] == {
        "gsm8k": {"original": 50, "effective": 50},
        "hellaswag": {"original": 100, "effective": 100},
    }
    assert doc["config"] == {"limit": 50, "seed": 1234}
    assert doc["model_name"] == "tiny-model"
    assert doc["evalkit"]["run_id"] == RUN_ID
    assert doc["evalkit"]["status"] == "finished"
    assert doc["evalkit"]["timing"] == {"wall_s": 3.5}


def test_csv_export_has_one_row_per_result(store: Store) -> None:
    text = export_run(store, RUN_ID, "csv")
    lines = text.splitlines()
    assert lines[0] == "run_id,task,metric,filter,value,stderr,n"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    by_key = {(r["task"], r["metric"], r["filter"]): r for r in rows}
    strict = by_key[("gsm8k", "exact_match", "strict-match")]
    assert strict == {
        "run_id": RUN_ID,
        "task": "gsm8k",
        "metric": "exact_match",
        "filter": "strict-match",
        "value": "0.02",
        "stderr": "",
        "n": "50",
    }
    assert float(by_key[("hellaswag", "acc", "none")]["stderr"]) == 0.0465


def test_export_accepts_prefix_and_rejects_unknown(store: Store) -> None:
    assert export_run(store, RUN_ID[:10], "csv") == export_run(store, RUN_ID, "csv")
    with pytest.raises(UserError, match="no run"):
        export_run(store, "nope", "json")
    with pytest.raises(UserError, match="format"):
        export_run(store, RUN_ID, "xml")  # type: ignore[arg-type]


def test_export_of_run_without_results(store_spec: str | Path) -> None:
    with Store(store_spec) as store:
        store.create_run("empty", "s", "00" * 32, "fp", "m", {}, None)
        assert json.loads(export_run(store, "empty", "json"))["results"] == {}
        assert export_run(store, "empty", "csv") == "run_id,task,metric,filter,value,stderr,n\n"
