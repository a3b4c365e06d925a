"""Round trips through the results store: models, runs, results, samples, request cache."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.store import ResultRow, RunSummary, Store

SHA = "ab" * 32


@pytest.fixture
def store(store_spec: str | Path) -> Iterator[Store]:
    with Store(store_spec) as opened:
        yield opened


def _run(store: Store, run_id: str, started_at: str | None = None, **config: object) -> None:
    store.create_run(
        run_id, "suite.yaml", SHA, "fp-model", "model", dict(config), "/out", started_at=started_at
    )


# -- models ---------------------------------------------------------------------------------


def test_model_round_trip_and_lineage(store: Store) -> None:
    assert store.get_model("nope") is None
    store.upsert_model("fp-base", "base", "/models/base", metadata={"params": 7, "tags": ["a"]})
    store.upsert_model("fp-ft", "fine-tuned", "/models/ft", parent_fingerprint="fp-base")

    base = store.get_model("fp-base")
    assert base is not None
    assert base["name"] == "base" and base["path"] == "/models/base"
    assert base["parent_fingerprint"] is None
    assert base["metadata"] == {"params": 7, "tags": ["a"]}
    assert base["created_at"]
    ft = store.get_model("fp-ft")
    assert ft is not None and ft["parent_fingerprint"] == "fp-base" and ft["metadata"] == {}


def test_model_upsert_updates_name_but_keeps_unspecified_fields(store: Store) -> None:
    store.upsert_model("fp", "old", "/p", parent_fingerprint="parent", metadata={"k": 1})
    created = store.get_model("fp")
    store.upsert_model("fp", "new", None)
    model = store.get_model("fp")
    assert model is not None and created is not None
    assert model["name"] == "new"
    assert model["path"] == "/p"
    assert model["parent_fingerprint"] == "parent"
    assert model["metadata"] == {"k": 1}
    assert model["created_at"] == created["created_at"]
    store.upsert_model("fp", "new", "/q", metadata={"k": 2})
    model = store.get_model("fp")
    assert model is not None and model["path"] == "/q" and model["metadata"] == {"k": 2}


# -- runs -----------------------------------------------------------------------------------


def test_run_lifecycle(store: Store) -> None:
    store.create_run(
        "run-1", "suite.yaml", SHA, "fp-model", "model", {"limit": 5, "path": Path("/x")}, "/out"
    )
    found = store.get_run("run-1")
    assert found is not None
    run = found["run"]
    assert run["status"] == "running"
    assert run["config"] == {"limit": 5, "path": "/x"}  # non-JSON values are stored as text
    assert run["timing"] is None and run["finished_at"] is None
    assert (run["suite"], run["suite_sha256"], run["output_dir"]) == ("suite.yaml", SHA, "/out")
    assert found["results"] == []

    store.finish_run("run-1", "finished", {"wall_s": 12.5, "per_task": {"a": 1.0}})
    run = store.get_run("run-1")["run"]  # type: ignore[index]
    assert run["status"] == "finished"
    assert run["timing"] == {"wall_s": 12.5, "per_task": {"a": 1.0}}
    assert run["finished_at"] >= run["started_at"]


def test_run_errors(store: Store) -> None:
    _run(store, "run-1")
    with pytest.raises(ValueError, match="already exists"):
        _run(store, "run-1")
    with pytest.raises(ValueError, match="status"):
        store.finish_run("run-1", "running", {})
    with pytest.raises(ValueError, match="status"):
        store.create_run("run-2", "s", SHA, "fp", "m", {}, None, status="weird")
    with pytest.raises(ValueError, match="no run"):
        store.finish_run("missing", "failed", {})


def test_list_runs_newest_first_with_result_counts(store: Store) -> None:
    _run(store, "old", started_at="2024-01-01T00:00:00.000000+00:00")
    _run(store, "new", started_at="2025-01-01T00:00:00.000000+00:00")
    _run(store, "mid", started_at="2024-06-01T00:00:00.000000+00:00")
    store.add_results(
        "mid", [ResultRow("t", "acc", "none", 0.5, None, 10), ResultRow("t", "f1", "none", 1, 0, 10)]
    )
    store.finish_run("mid", "failed", {})
    runs = store.list_runs()
    assert [r.run_id for r in runs] == ["new", "mid", "old"]
    assert all(isinstance(r, RunSummary) for r in runs)
    mid = runs[1]
    assert (mid.n_results, mid.status, mid.suite, mid.model_fingerprint) == (
        2,
        "failed",
        "suite.yaml",
        "fp-model",
    )
    assert mid.finished_at is not None and runs[0].finished_at is None
    assert runs[0].n_results == 0


def test_get_run_accepts_unique_prefix(store: Store) -> None:
    _run(store, "20250101-abcdef")
    _run(store, "20250101-abcxyz")
    _run(store, "20250101-abc")
    assert store.get_run("20250101-abcd")["run"]["run_id"] == "20250101-abcdef"  # type: ignore[index]
    # An exact id wins even though it is also a prefix of others.
    assert store.get_run("20250101-abc")["run"]["run_id"] == "20250101-abc"  # type: ignore[index]
    with pytest.raises(UserError, match="ambiguous"):
        store.get_run("2025")
    assert store.get_run("zzz") is None
    assert store.get_run("") is None
    assert store.get_run("20250101-ab%") is None  # no LIKE wildcards


# -- results --------------------------------------------------------------------------------


def test_results_round_trip_and_upsert(store: Store) -> None:
    _run(store, "r")
    rows = [
        ResultRow("hellaswag", "acc", "none", 0.31, 0.046, 100),
        ResultRow("gsm8k", "exact_match", "strict-match", 0.02, None, 50),
        ResultRow("gsm8k", "exact_match", "flexible-extract", 0.06, 0.01, 50),
    ]
    store.add_results("r", rows)
    assert sorted(store.get_results("r"), key=repr) == sorted(rows, key=repr)
    assert store.get_run("r")["results"] == store.get_results("r")  # type: ignore[index]

    # Same (task, metric, filter) replaces; nothing is duplicated.
    store.add_results("r", [ResultRow("hellaswag", "acc", "none", 0.4, None, 200)])
    results = store.get_results("r")
    assert len(results) == 3
    assert ResultRow("hellaswag", "acc", "none", 0.4, None, 200) in results
    assert store.get_results("other") == []


def test_nan_value_round_trips(store: Store) -> None:
    _run(store, "r")
    store.add_results("r", [ResultRow("t", "m", "none", math.nan, math.nan, 0)])
    (row,) = store.get_results("r")
    assert math.isnan(row.value) and row.stderr is None


def test_results_require_an_existing_run(store: Store) -> None:
    with pytest.raises(Store.IntegrityError):
        store.add_results("ghost", [ResultRow("t", "m", "none", 1.0, None, 1)])
    store.add_results("ghost", [])  # nothing to write is not an error


# -- samples --------------------------------------------------------------------------------


def test_samples_round_trip_upsert_and_order(store: Store) -> None:
    _run(store, "r")
    records = [
        {"doc_id": 10, "filter": "none", "resps": ["B"], "acc": 0.0, "text": "ünïcode ✓"},
        {"doc_id": 2, "filter": "none", "resps": ["A"], "acc": 1.0},
        {"doc_id": 2, "filter": "strict", "resps": ["A"], "acc": 1.0},
    ]
    store.add_samples("r", "mc", records)
    store.add_samples("r", "gen", [{"doc_id": "q-1", "filter": "none", "output": "42"}])
    # Integer ids sort numerically (2 before 10), then by filter.
    assert store.get_samples("r", "mc") == [records[1], records[2], records[0]]
    assert store.get_samples("r", "gen") == [{"doc_id": "q-1", "filter": "none", "output": "42"}]
    assert len(store.get_samples("r")) == 4

    store.add_samples("r", "mc", [{"doc_id": 2, "filter": "none", "resps": ["C"], "acc": 0.0}])
    mc = store.get_samples("r", "mc")
    assert len(mc) == 3 and mc[0]["resps"] == ["C"]
    assert store.get_samples("r", "absent") == []


def test_samples_missing_keys_write_nothing(store: Store) -> None:
    _run(store, "r")
    with pytest.raises(ValueError, match="filter"):
        store.add_samples("r", "t", [{"doc_id": 1, "filter": "none"}, {"doc_id": 2}])
    with pytest.raises(TypeError, match="doc_id"):
        store.add_samples("r", "t", [{"doc_id": 1.5, "filter": "none"}])
    with pytest.raises(TypeError, match="doc_id"):
        store.add_samples("r", "t", [{"doc_id": True, "filter": "none"}])
    assert store.get_samples("r") == []


# -- request cache --------------------------------------------------------------------------


def test_cache_round_trip(store: Store) -> None:
    items = [
        ("h1", {"prompt": "2+2=", "max_tokens": 4}, {"text": "4", "logprobs": [-0.1, -2.5]}),
        ("h2", ["loglikelihood", "ctx", "cont"], [-1.25, True]),
        ("h3", "raw", None),
    ]
    store.cache_put_many("fp-a", items)
    assert store.cache_count("fp-a") == 3
    assert store.cache_count("fp-b") == 0
    got = store.cache_get_many("fp-a", ["h1", "h2", "h3", "missing"])
    assert got == {"h1": items[0][2], "h2": items[1][2], "h3": None}
    assert store.cache_get_many("fp-b", ["h1"]) == {}
    assert store.cache_get_many("fp-a", []) == {}

    store.cache_put_many("fp-a", [("h1", {"prompt": "2+2="}, {"text": "four"})])
    assert store.cache_count("fp-a") == 3
    assert store.cache_get_many("fp-a", ["h1"]) == {"h1": {"text": "four"}}


def test_cache_get_many_chunks_large_requests(store: Store) -> None:
    n = 2600  # well past SQLite's historical 999-variable limit per statement
    store.cache_put_many("fp", [(f"hash-{i:05d}", {"i": i}, {"r": i}) for i in range(n)])
    assert store.cache_count("fp") == n
    wanted = [f"hash-{i:05d}" for i in range(0, n, 2)] + [f"miss-{i}" for i in range(700)]
    wanted += wanted[:50]  # duplicates are harmless
    got = store.cache_get_many("fp", wanted)
    assert len(got) == n // 2
    assert all(got[f"hash-{i:05d}"] == {"r": i} for i in range(0, n, 2))


def test_cache_put_many_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(TypeError):
        store.cache_put_many("fp", [("ok", {}, {}), ("bad", {}, {"obj": object()})])
    assert store.cache_count("fp") == 0


# -- persistence and lifecycle --------------------------------------------------------------


def test_everything_persists_across_reopen(store_spec: str | Path) -> None:
    path = store_spec
    with Store(path) as store:
        store.upsert_model("fp", "m", None)
        _run(store, "r")
        store.add_results("r", [ResultRow("t", "acc", "none", 0.5, 0.1, 4)])
        store.add_samples("r", "t", [{"doc_id": 0, "filter": "none"}])
        store.cache_put_many("fp", [("h", "q", "a")])
    with Store(str(path)) as store:
        assert store.get_model("fp") is not None
        assert store.get_results("r") == [ResultRow("t", "acc", "none", 0.5, 0.1, 4)]
        assert store.get_samples("r") == [{"doc_id": 0, "filter": "none"}]
        assert store.cache_get_many("fp", ["h"]) == {"h": "a"}


def test_closed_store_refuses_calls(store_spec: str | Path) -> None:
    store = Store(store_spec)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.list_runs()
