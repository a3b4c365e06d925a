"""Importing lm-evaluation-harness results files into the store."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import ResultRow, Store
from evalkit.store.export import export_run
from evalkit.store.lm_eval_import import import_lm_eval_results

FIXTURE = Path(__file__).parent / "fixtures" / "lm_eval_results.json"
MODEL = "EleutherAI/pythia-160m"


@pytest.fixture
def store(store_spec: str | Path) -> Iterator[Store]:
    with Store(store_spec) as opened:
        yield opened


def _write(tmp_path: Path, document: object, name: str = "results.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_import_fixture_lands_values_stderr_and_n(store: Store) -> None:
    run_id = import_lm_eval_results(store, FIXTURE)
    results = {(r.task, r.metric, r.filter): r for r in store.get_results(run_id)}
    assert results[("hellaswag", "acc", "none")] == ResultRow(
        "hellaswag", "acc", "none", 0.31, 0.04648231987117316, 100
    )
    assert results[("hellaswag", "acc_norm", "none")].stderr == 0.047937248544110196
    assert results[("gsm8k", "exact_match", "strict-match")] == ResultRow(
        "gsm8k", "exact_match", "strict-match", 0.02, 0.02, 50
    )
    # "N/A" means no standard error.
    assert results[("gsm8k", "exact_match", "flexible-extract")].stderr is None
    assert results[("mmlu_anatomy", "acc", "none")].n == 135
    # A group has no n-samples entry; its own sample count is used.
    assert results[("mmlu_stem", "acc", "none")].n == 235
    # Only metric values: no alias/name/sample_len/stderr rows.
    assert len(results) == 7
    assert all(not r.metric.endswith("_stderr") for r in results.values())


def test_import_records_run_and_model(store: Store) -> None:
    run_id = import_lm_eval_results(store, FIXTURE)
    file_sha = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    (summary,) = store.list_runs()
    assert summary.run_id == run_id
    assert summary.status == "imported"
    assert summary.suite == "lm-eval"
    assert summary.model_name == MODEL
    assert summary.n_results == 7
    fingerprint = "lm-eval:" + hashlib.sha256(MODEL.encode()).hexdigest()
    assert summary.model_fingerprint == fingerprint
    assert summary.started_at.startswith("2024-11-27T09:33:20")
    assert summary.finished_at is not None and summary.finished_at > summary.started_at

    run = store.get_run(run_id)["run"]  # type: ignore[index]
    assert run["suite_sha256"] == file_sha
    assert run["config"]["model_args"] == "pretrained=EleutherAI/pythia-160m,dtype=float32"
    assert run["config"]["lm_eval"]["lm_eval_version"] == "0.4.13"
    assert run["timing"]["total_evaluation_time_seconds"] == pytest.approx(183.4172839750047)

    model = store.get_model(fingerprint)
    assert model is not None and model["name"] == MODEL
    assert model["metadata"]["model_sha"] == "50f5173d932e8e61f858120bcb800b97af589f46"


def test_importing_twice_is_idempotent(store: Store, tmp_path: Path) -> None:
    first = import_lm_eval_results(store, FIXTURE)
    copy = tmp_path / "copy.json"
    shutil.copy(FIXTURE, copy)
    second = import_lm_eval_results(store, str(copy))
    assert first == second
    assert len(store.list_runs()) == 1
    assert len(store.get_results(first)) == 7


def test_different_files_become_different_runs(store: Store, tmp_path: Path) -> None:
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    document["results"]["hellaswag"]["acc,none"] = 0.5
    other = import_lm_eval_results(store, _write(tmp_path, document))
    assert other != import_lm_eval_results(store, FIXTURE)
    assert len(store.list_runs()) == 2


def test_model_name_falls_back_to_model_args(store: Store, tmp_path: Path) -> None:
    document = {
        "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.05}},
        "config": {"model": "hf", "model_args": "pretrained=org/base,peft=org/adapter,dtype=bfloat16"},
    }
    run_id = import_lm_eval_results(store, _write(tmp_path, document))
    (summary,) = store.list_runs()
    assert summary.model_name == "org/adapter"  # as lm-eval itself names it
    # No n-samples: n is 0.
    assert store.get_results(run_id) == [ResultRow("arc_easy", "acc", "none", 0.5, 0.05, 0)]


def test_export_of_import_round_trips_values(store: Store, tmp_path: Path) -> None:
    run_id = import_lm_eval_results(store, FIXTURE)
    exported = json.loads(export_run(store, run_id, "json"))
    original = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for task, metrics in exported["results"].items():
        for key, value in metrics.items():
            assert original["results"][task][key] == value, (task, key)
    # The export is itself importable.
    again = import_lm_eval_results(store, _write(tmp_path, exported, "exported.json"))
    assert {(r.task, r.metric, r.filter, r.value) for r in store.get_results(again)} == {
        (r.task, r.metric, r.filter, r.value) for r in store.get_results(run_id)
    }


@pytest.mark.parametrize(
    "content",
    [
        b"{ this is not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"config": {"model": "hf"}}',
        b'{"results": []}',
        b'{"results": {"hellaswag": 0.5}}',
        b'{"results": {"hellaswag": {"alias": "hellaswag", "acc_stderr,none": 0.1}}}',
    ],
)
def test_malformed_file_is_a_user_error_naming_the_path(store: Store, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        import_lm_eval_results(store, path)
    message = str(raised.value)
    assert message.startswith(f"{path}: expected")
    assert "\n" not in message
    # Bad input writes nothing.
    assert store.list_runs() == []


def test_missing_file_is_a_user_error(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(UserError, match=r"absent\.json: expected"):
        import_lm_eval_results(store, path)
