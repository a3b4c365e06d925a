"""The Leaderboard, Model and Samples pages (AppTest) on the store seeded by real evalkit runs, and on an
empty store. Numbers on screen are checked against the store read through the Store API."""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from evalkit.harness.lineage_table import metric_label
from evalkit.leaderboard import results_view as rv
from evalkit.store import Store
from tests.leaderboard.conftest import SeededStore, stored_results

AppFactory = Callable[..., Any]
_TABLES = {"lb_table": 0, "model_metrics": 0, "model_lineage": 1, "samples_table": 0}


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _leaderboard(app_test: AppFactory, store: Path) -> AppTest:
    return _ok(app_test(store).run())


def _page(app_test: AppFactory, store: Path, page: str, **params: str) -> AppTest:
    at = _ok(app_test(store).run())
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(page)
    return _ok(at.run())


def _table(at: AppTest, key: str) -> pd.DataFrame:
    # AppTest does not expose a dataframe's key: find it by its place on the page.
    return at.dataframe[_TABLES[key]].value


def _column(task: str, metric: str, filter_name: str) -> str:
    return f"{task}/{metric_label(metric, filter_name)}"


def _same(shown: Any, stored: float) -> bool:
    return (math.isnan(stored) and pd.isna(shown)) or shown == pytest.approx(stored)


# -- leaderboard ---------------------------------------------------------------------------------


def test_leaderboard_shows_every_model_with_its_stored_values(app_test: AppFactory, seeded_store: SeededStore) -> None:
    table = _table(_leaderboard(app_test, seeded_store.path), "lb_table").set_index("model")
    for model in (*seeded_store.chain, seeded_store.imported):
        stored = stored_results(seeded_store.path, model)
        assert stored, model
        for (task, metric, filter_name), value in stored.items():
            assert _same(table.loc[model, _column(task, metric, filter_name)], value), (model, task, metric)
    assert table.loc[seeded_store.imported, "source"] == rv.LM_EVAL_SOURCE
    assert set(table.loc[list(seeded_store.chain), "source"]) == {"evalkit run"}
    assert table.loc[seeded_store.base, "lineage"] == "base"
    assert table.loc[seeded_store.sft, "lineage"] == f"SFT of {seeded_store.base} (merged)"
    assert table.loc[seeded_store.dpo, "lineage"] == f"DPO of {seeded_store.sft} (merged)"
    assert table.loc[seeded_store.dpo, "page"] == f"model?model={seeded_store.dpo}"


def test_leaderboard_filters_by_suite_task_and_name(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _leaderboard(app_test, seeded_store.path)
    at.multiselect(key="lb_suites").set_value([seeded_store.suite]).run()
    table = _table(_ok(at), "lb_table")
    assert set(table["model"]) == set(seeded_store.chain)  # the import is another suite
    at.multiselect(key="lb_tasks").set_value(["qa"]).run()
    table = _table(_ok(at), "lb_table")
    assert rv.metric_columns(table) and all(c.startswith("qa/") for c in rv.metric_columns(table))
    at.text_input(key="lb_name").input(seeded_store.dpo.upper()).run()
    assert _table(_ok(at), "lb_table")["model"].tolist() == [seeded_store.dpo]


def test_average_is_the_mean_of_the_chosen_columns(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _leaderboard(app_test, seeded_store.path)
    at.multiselect(key="lb_suites").set_value([seeded_store.suite]).run()
    columns = [c for c in rv.metric_columns(_table(_ok(at), "lb_table")) if c.startswith(("mmlu/", "qa/"))][:3]
    assert len(columns) >= 2
    at.multiselect(key="lb_average").set_value(columns).run()
    table = _table(_ok(at), "lb_table")
    for _, row in table.iterrows():
        assert row[rv.AVERAGE] == pytest.approx(sum(row[c] for c in columns) / len(columns))


def test_stderr_toggle_shows_value_plus_minus_stderr(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _leaderboard(app_test, seeded_store.path)
    at.toggle(key="lb_stderr").set_value(True).run()
    table = _table(_ok(at), "lb_table").set_index("model")
    with Store(seeded_store.path) as store:
        run = next(r for r in store.list_runs() if r.model_name == seeded_store.imported)
        row = next(r for r in store.get_results(run.run_id) if r.stderr is not None)
    assert table.loc[seeded_store.imported, _column(row.task, row.metric, row.filter)] == \
        f"{row.value:.3f} ± {row.stderr:.3f}"


def test_csv_download_is_the_table(app_test: AppFactory, seeded_store: SeededStore,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[Any] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self: MemoryMediaFileStorage, path_or_data: Any, mimetype: str, *args: Any, **kwargs: Any) -> str:
        if mimetype == "text/csv":
            saved.append(path_or_data)
        return original(self, path_or_data, mimetype, *args, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    table = _table(_leaderboard(app_test, seeded_store.path), "lb_table")
    csv = pd.read_csv(io.BytesIO(saved[-1]))
    assert "page" not in csv.columns
    assert csv["model"].tolist() == table["model"].tolist()
    for column in rv.metric_columns(table):
        assert csv[column].tolist() == pytest.approx(table[column].tolist(), nan_ok=True)


def test_empty_store_explains_how_to_start(app_test: AppFactory, empty_store: Path) -> None:
    at = _leaderboard(app_test, empty_store)
    assert any("evalkit run suites/quickstart.yaml --model smollm2-135m-instruct" in i.value for i in at.info)
    for page in ("views/model.py", "views/samples.py"):
        at.switch_page(page)
        assert _ok(at.run()).info


# -- model page ----------------------------------------------------------------------------------


def test_model_page_lineage_deltas_are_the_stored_differences(app_test: AppFactory,
                                                             seeded_store: SeededStore) -> None:
    at = _page(app_test, seeded_store.path, "views/model.py", model=seeded_store.dpo)
    assert at.selectbox(key="model_pick").value == seeded_store.dpo
    lineage = _table(at, "model_lineage")
    assert list(lineage.columns) == ["task", "metric", "base", "SFT", "Δ SFT", "DPO", "Δ DPO"]
    stored = [stored_results(seeded_store.path, m) for m in seeded_store.chain]
    checked = 0
    for (task, metric, filter_name), base in stored[0].items():
        row = lineage[(lineage["task"] == task) & (lineage["metric"] == metric_label(metric, filter_name))]
        sft, dpo = stored[1][(task, metric, filter_name)], stored[2][(task, metric, filter_name)]
        if any(math.isnan(v) for v in (base, sft, dpo)):
            continue
        assert row["base"].item() == pytest.approx(base) and row["DPO"].item() == pytest.approx(dpo)
        assert row["Δ SFT"].item() == pytest.approx(sft - base)
        assert row["Δ DPO"].item() == pytest.approx(dpo - sft)
        checked += 1
    assert checked >= 3
    metrics = _table(at, "model_metrics")
    assert len(metrics) == len(stored[2])
    charts = [el for el in at.main if getattr(el, "type", "") == "vega_lite_chart"]
    assert len(charts) == 2  # the comparison bars and the loss curve
    assert '"loss"' in charts[-1].proto.spec


def test_model_page_without_lineage_has_no_loss_curve(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _page(app_test, seeded_store.path, "views/model.py", model=seeded_store.base)
    assert [el for el in at.main if getattr(el, "type", "") == "vega_lite_chart"]  # the comparison
    assert "Training loss" not in [s.value for s in at.subheader]


# -- samples page --------------------------------------------------------------------------------


def _samples(app_test: AppFactory, seeded_store: SeededStore, model: str, task: str) -> AppTest:
    at = _page(app_test, seeded_store.path, "views/samples.py", model=model)
    assert at.selectbox(key="samples_run").value is not None
    at.selectbox(key="samples_task").set_value(task).run()
    return _ok(at)


def test_samples_page_shows_items_and_filters_failures(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _samples(app_test, seeded_store, seeded_store.sft, "mmlu")
    run_id = at.selectbox(key="samples_run").value
    with Store(seeded_store.path) as store:
        assert store.get_run(run_id)["run"]["model_name"] == seeded_store.sft
        records = store.get_samples(run_id, "mmlu")
    items = _table(at, "samples_table")
    assert items["doc_id"].tolist() == [r["doc_id"] for r in records][:50]
    assert items["acc"].tolist() == pytest.approx([float(r["acc"]) for r in records][:50])
    assert all(items["prompt"].str.len() > 0) and all(items["target"].astype(str).str.len() > 0)
    at.toggle(key="samples_failures").set_value(True).run()
    failures = _table(_ok(at), "samples_table")
    assert failures["doc_id"].tolist() == [r["doc_id"] for r in records if r["acc"] < 1]
    assert (failures["acc"] < 1).all()


def test_samples_side_by_side_on_the_same_items(app_test: AppFactory, seeded_store: SeededStore) -> None:
    at = _samples(app_test, seeded_store, seeded_store.sft, "mmlu")
    runs = at.selectbox(key="samples_other").options
    other = next(o for o in runs if o.startswith(f"{seeded_store.dpo} · "))
    at.selectbox(key="samples_other").set_value(other.rsplit(" · ", 1)[-1]).run()
    both = _table(_ok(at), "samples_table")
    with Store(seeded_store.path) as store:
        dpo_run = next(r.run_id for r in store.list_runs() if r.model_name == seeded_store.dpo)
        dpo = {r["doc_id"]: float(r["acc"]) for r in store.get_samples(dpo_run, "mmlu")}
    assert both[f"acc [{seeded_store.dpo}]"].tolist() == [dpo[d] for d in both["doc_id"]]
    assert f"acc [{seeded_store.sft}]" in both.columns and f"output [{seeded_store.dpo}]" in both.columns


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="the seeded HumanEval needs bubblewrap")
def test_samples_humaneval_items_show_the_execution_verdict(app_test: AppFactory, seeded_store: SeededStore) -> None:
    items = _table(_samples(app_test, seeded_store, seeded_store.base, "humaneval"), "samples_table")
    with Store(seeded_store.path) as store:
        run = next(r.run_id for r in store.list_runs() if r.model_name == seeded_store.base)
        records = store.get_samples(run, "humaneval")
    verdicts = [[e["verdict"] for e in r["details"]["execution"]] for r in records]
    assert len(items) == len(records) == 2
    for shown, expected in zip(items["verdict"], verdicts):
        assert shown.split(":")[0] == expected[0]
