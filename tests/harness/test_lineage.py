"""Lineage on real files: the record round trip, the store record, and `evalkit models lineage` on a
real chain base → SFT (adapter → merged) → DPO (adapter → merged) evaluated with `evalkit run`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from evalkit.config import RunConfig
from evalkit.errors import UserError
from evalkit.harness.lineage import (
    LINEAGE_FILE,
    LineageRecord,
    library_versions,
    read_lineage,
    record_from_store,
    record_in_store,
    write_lineage,
)
from evalkit.harness.merge import adapter_source, merge_adapter, record_merge
from evalkit.models.resolve import resolve_model
from evalkit.runner import run_suite
from evalkit.store import Store
from evalkit.suites import load_suite
from tests.conftest import run_cli, write_jsonl
from tests.harness.test_merge import make_adapter


def train_record(method: str, parent: Path, rows: int, loss: float) -> LineageRecord:
    """What `evalkit train` records (made by hand here: the adapters come from PEFT directly)."""
    return LineageRecord(kind="train", method=method, adapter="lora", parent_model=str(parent),
                         parent_fingerprint=resolve_model(str(parent)).fingerprint,
                         config={"method": method, "model": str(parent), "adapter": "lora"},
                         dataset_fingerprint="d" * 64, dataset_rows=rows, steps=3, wall_s=4.0, final_loss=loss,
                         loss_curve=[{"step": s, "loss": loss + 3 - s, "learning_rate": 1e-4} for s in (1, 2, 3)],
                         versions=library_versions())


def test_record_round_trip_and_a_broken_file(tmp_path: Path) -> None:
    record = LineageRecord(
        "train", "sft", "qlora", "gemma3-270m", "p" * 64, config={"lora": {"r": 8}}, steps=2,
        loss_curve=[{"step": 1, "loss": 2.0, "learning_rate": 2e-4}])
    assert read_lineage(tmp_path) is None
    write_lineage(tmp_path, record)
    assert record.created_at  # set on the record, so the store gets the same time
    assert read_lineage(tmp_path) == record
    # A field a newer evalkit added does not break reading.
    data = json.loads((tmp_path / LINEAGE_FILE).read_text())
    (tmp_path / LINEAGE_FILE).write_text(json.dumps({**data, "from_the_future": 1}))
    assert read_lineage(tmp_path) == record
    (tmp_path / LINEAGE_FILE).write_text("[1, 2]")
    with pytest.raises(UserError, match=LINEAGE_FILE):
        read_lineage(tmp_path)


def test_record_in_store_keys_the_checkpoint_as_evalkit_run_does(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = make_adapter(tiny_model_dir, tmp_path / "sft")
    before = resolve_model(str(adapter)).fingerprint
    record = train_record("sft", tiny_model_dir, 8, 1.5)
    write_lineage(adapter, record)
    with Store(tmp_path / "db") as store:
        fingerprint = record_in_store(store, adapter, record)
        assert fingerprint == before == resolve_model(str(adapter)).fingerprint  # the file is not fingerprinted
        stored_columns = {k: v for k, v in asdict(record).items() if k != "dropped_rows"}  # no store column
        assert store.get_lineage(fingerprint) == {**stored_columns, "fingerprint": fingerprint,
                                                  "path": str(adapter.resolve())}
        assert store.get_model(fingerprint)["parent_fingerprint"] == record.parent_fingerprint  # type: ignore[index]
        # Rows left out travel inside the stored config and come back out of it.
        record.dropped_rows = {"filter": 3, "too_long": 2}
        record_in_store(store, adapter, record)
        row = store.get_lineage(fingerprint)
        assert row is not None and row["config"]["_dropped_rows"] == {"filter": 3, "too_long": 2}
        assert record_from_store(row) == record


def _evaluate(model: Path, suite: Path, store: Path, out: Path) -> dict[tuple[str, str], float]:
    loaded = load_suite(suite)
    run_suite(loaded, RunConfig.resolve(loaded, model=str(model), store_path=store, output=out, device="cpu"))
    results = json.loads((out / "results.json").read_text())["results"]
    return {(task, key.split(",")[0]): value for task, block in results.items() for key, value in block.items()
            if key.endswith(",none") and "_stderr" not in key}


def test_models_lineage_prints_the_chain_with_results_and_deltas(tiny_model_dir: Path, tmp_path: Path,
                                                                 evalkit_env: Path) -> None:
    db = evalkit_env / "evalkit.db"
    sft = make_adapter(tiny_model_dir, tmp_path / "sft-adapter", seed=1)
    record = train_record("sft", tiny_model_dir, 8, 1.25)
    write_lineage(sft, record)
    record_in_store(db, sft, record)
    source = adapter_source(sft)
    with Store(db) as store:
        record_merge(store, source, tmp_path / "sft-merged", merge_adapter(source, tmp_path / "sft-merged"))
    dpo = make_adapter(tmp_path / "sft-merged", tmp_path / "dpo-adapter", seed=2)
    record = train_record("dpo", tmp_path / "sft-merged", 6, 0.5)
    write_lineage(dpo, record)
    record_in_store(db, dpo, record)
    source = adapter_source(dpo)
    assert source.base.path == (tmp_path / "sft-merged").resolve()  # the DPO adapter merges onto the merged SFT
    with Store(db) as store:
        record_merge(store, source, tmp_path / "dpo-merged", merge_adapter(source, tmp_path / "dpo-merged"))

    write_jsonl(tmp_path / "texts.jsonl", [{"text": "The lighthouse keeper climbed the spiral stairs at dusk."},
                                           {"text": "Short text.\nTwo lines."}])
    suite = tmp_path / "suite.yaml"
    suite.write_text("suite: mini\ntasks:\n  - {name: ppl, evaluator: perplexity, "
                     "dataset: {path: json, data_files: texts.jsonl}}\n")
    scores = {name: _evaluate(tmp_path / name, suite, db, tmp_path / f"run-{name}")
              for name in ("sft-merged", "dpo-merged")}
    scores["base"] = _evaluate(tiny_model_dir, suite, db, tmp_path / "run-base")

    proc = run_cli("models", "lineage", str(tmp_path / "dpo-merged"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "base → SFT (adapter → merged) → DPO (adapter → merged)"
    chain = [line.split()[:3] for line in lines[2:7]]
    assert chain == [["base", "base", tiny_model_dir.name], ["SFT", "adapter", "sft-adapter"],
                     ["SFT", "merged", "sft-merged"], ["DPO", "adapter", "dpo-adapter"],
                     ["DPO", "merged", "dpo-merged"]]
    assert "sft lora, 3 steps, 8 rows, final loss 1.2500" in lines[3]
    assert "merge (16-bit reload) of sft-adapter" in lines[4]
    header = lines[8].split()
    assert header == ["task", "metric", "base", "SFT", "Δ", "SFT", "DPO", "Δ", "DPO"]
    row = next(line.split() for line in lines if line.split()[:2] == ["ppl", "bits_per_byte"])
    base, sft_v, dpo_v = (scores[n][("ppl", "bits_per_byte")] for n in ("base", "sft-merged", "dpo-merged"))
    assert row[2:] == [f"{base:.4f}", f"{sft_v:.4f}", f"{sft_v - base:+.4f}", f"{dpo_v:.4f}", f"{dpo_v - sft_v:+.4f}"]
    assert abs(sft_v - base) > 1e-3 and abs(dpo_v - sft_v) > 1e-3  # the adapters did change the model

    # From the SFT adapter itself: the chain stops there, and only the base has results of its own.
    proc = run_cli("models", "lineage", str(sft))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "base → SFT"


def test_lineage_of_an_adapter_without_a_usable_base_says_so(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = make_adapter(tiny_model_dir, tmp_path / "orphan", base_field=str(tmp_path / "moved-away"))
    proc = run_cli("models", "lineage", str(adapter))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "base_model_name_or_path" in proc.stderr and "moved-away" in proc.stderr
