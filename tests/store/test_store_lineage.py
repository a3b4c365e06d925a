"""Schema 3 adds the lineage table: a version-2 store upgrades without losing anything, and the
lineage and latest-results methods work on old and new stores alike."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import ResultRow, Store, db

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.db"
TABLES = ("models", "runs", "results", "samples", "request_cache", "score_cache")


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(str(path))
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _store_v2(tmp_path: Path) -> Path:
    """The committed version-1 store, migrated with the real migrations up to version 2 only."""
    path = tmp_path / "evalkit.db"
    shutil.copy(FIXTURE, path)
    conn = db.connect(path)
    try:
        assert db.migrate(conn, target=2) == 2
    finally:
        conn.close()
    return path


def test_version_3_adds_the_lineage_table_and_keeps_everything(tmp_path: Path) -> None:
    path = _store_v2(tmp_path)
    before = {t: _rows(path, f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}
    assert not _rows(path, "SELECT name FROM sqlite_master WHERE name = 'lineage'")

    with Store(path) as store:
        assert store.schema_version() == db.latest_version() >= 3
        # Old runs read through the new method: the finished model-free run, not the failed one.
        latest = store.latest_results("")
        assert latest is not None and latest[0].startswith("fixture__none__") and latest[1]
        assert store.latest_results("sha256:" + "ab" * 32) is None  # only a failed run
        store.put_lineage("fp-merged", "/ckpt/merged", {
            "kind": "merge", "method": "sft", "adapter": "qlora", "parent_model": "/ckpt/adapter",
            "parent_fingerprint": "fp-adapter", "config": {"dtype": "float32"}, "merge_mode": "dequantized 4-bit",
            "versions": {"peft": "0.x"}})
        got = store.get_lineage("fp-merged")
    assert got is not None
    assert got["config"] == {"dtype": "float32"} and got["loss_curve"] == []
    assert got["merge_mode"] == "dequantized 4-bit"
    assert got["path"] == "/ckpt/merged" and got["created_at"]
    for table, rows in before.items():
        assert _rows(path, f"SELECT * FROM {table} ORDER BY 1, 2") == rows, table


def test_lineage_records_replace_and_refuse_unknown_fields(store_spec: str | Path) -> None:
    record = {"kind": "train", "method": "dpo", "adapter": "lora", "parent_model": "./sft-merged",
              "parent_fingerprint": "p", "dataset_fingerprint": "d", "dataset_rows": 12, "steps": 3,
              "wall_s": 1.5, "final_loss": 0.69, "loss_curve": [{"step": 1, "loss": 0.7, "learning_rate": 1e-4}],
              "created_at": "2026-01-01T00:00:00+00:00"}
    with Store(store_spec) as store:
        store.put_lineage("fp", None, record)
        assert store.get_lineage("fp") == {**record, "fingerprint": "fp", "path": None, "config": {},
                                           "merge_mode": None, "versions": {}}
        store.put_lineage("fp", "/x", {**record, "steps": 4})
        assert store.get_lineage("fp")["steps"] == 4  # type: ignore[index]
        with pytest.raises(ValueError, match="unknown fields: stepz"):
            store.put_lineage("fp", None, {**record, "stepz": 1})
        with pytest.raises(Store.IntegrityError):
            store.put_lineage("bad", None, {**record, "kind": "distill"})
        assert store.get_lineage("nope") is None


def test_latest_results_is_the_most_recently_finished_run(store_spec: str | Path) -> None:
    with Store(store_spec) as store:
        for run_id, finished, value in (("old", "2026-01-01T00:00:00+00:00", 1.0),
                                        ("new", "2026-02-01T00:00:00+00:00", 2.0)):
            store.create_run(run_id, "s", "h", "fp", "m", {}, None)
            store.add_results(run_id, [ResultRow("t", "acc", "none", value, None, 3)])
            store.finish_run(run_id, "finished", {}, finished_at=finished)
        store.create_run("running", "s", "h", "fp", "m", {}, None)
        assert store.latest_results("fp") == ("new", [ResultRow("t", "acc", "none", 2.0, None, 3)])
