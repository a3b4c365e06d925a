"""The results pages' pure functions (leaderboard.results_view) and their queries on a small real store.

The store is written through the :class:`Store` API as evalkit writes it (a base model, an SFT adapter
and its merge, a DPO adapter and its merge, an lm-eval import, sample records with HumanEval
execution details); expected numbers are computed here from what was written.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evalkit.leaderboard import queries
from evalkit.leaderboard import results_view as rv
from evalkit.store import ResultRow, Store

BASE, SFT_ADAPTER, SFT, DPO_ADAPTER, DPO, IMPORTED = "fp-base", "fp-sft-a", "fp-sft", "fp-dpo-a", "fp-dpo", "lm-eval:x"
NAMES = {BASE: "tiny-base", SFT_ADAPTER: "sft-adapter", SFT: "tiny-sft", DPO_ADAPTER: "dpo-adapter", DPO: "tiny-dpo",
         IMPORTED: "hf-imported"}
SFT_CURVE = [{"step": 1, "loss": 2.0, "learning_rate": 1e-4}, {"step": 2, "loss": 1.5, "learning_rate": 5e-5}]


def _lineage(kind: str, method: str, parent: str, curve: list[dict] | None = None) -> dict:
    return {"kind": kind, "method": method, "adapter": "lora", "parent_model": NAMES[parent],
            "parent_fingerprint": parent, "loss_curve": curve or []}


def _records(run: int, n: int = 4) -> list[dict]:
    # doc i is right (acc 1) when i < run: later checkpoints get more right.
    return [{"doc_id": i, "filter": "none", "doc": {"q": f"q{i}"}, "target": f"a{i}",
             "arguments": [[f"Question {i}?", {"until": ["\n"]}]], "resps": [[f"answer {i} by {run}"]],
             "filtered_resps": [f"a{i}" if i < run else "wrong"], "exact_match": float(i < run)}
            for i in range(n)]


def _humaneval(passed: bool) -> list[dict]:
    verdict = "passed" if passed else "failed"
    return [{"doc_id": "HumanEval/0", "filter": "create_test", "doc": {}, "target": "", "arguments": [["def f():"]],
             "resps": [["  return 1"]], "filtered_resps": ["def f():\n  return 1"], "pass@1": float(passed),
             "details": {"execution": [{"passed": passed, "verdict": verdict,
                                        "detail": "" if passed else "Traceback\nAssertionError"}]}}]


def write_store(path: str | Path) -> dict[str, str]:
    """The small store; returns each model name's latest run id."""
    runs = {}
    with Store(path) as store:
        store.upsert_model(BASE, NAMES[BASE], None, None, {"kind": "hf"})
        for fp, parent in ((SFT_ADAPTER, BASE), (SFT, SFT_ADAPTER), (DPO_ADAPTER, SFT), (DPO, DPO_ADAPTER)):
            store.upsert_model(fp, NAMES[fp], None, parent, {})
        store.put_lineage(SFT_ADAPTER, None, _lineage("train", "sft", BASE, SFT_CURVE))
        store.put_lineage(SFT, None, _lineage("merge", "sft", SFT_ADAPTER))
        store.put_lineage(DPO_ADAPTER, None, _lineage("train", "dpo", SFT, [{"step": 1, "loss": 0.7,
                                                                             "learning_rate": 1e-5}]))
        store.put_lineage(DPO, None, _lineage("merge", "dpo", DPO_ADAPTER))
        for i, fp in enumerate((BASE, SFT, DPO), start=1):
            for attempt in ("old", "new"):  # an older run of each must not show
                run_id = f"run-{fp}-{attempt}"
                store.create_run(run_id, "small", "sha", fp, NAMES[fp], {}, None,
                                 started_at=f"2024-01-0{i}T00:00:0{int(attempt == 'new')}")
                value = 0.1 * i + (0.05 if attempt == "new" else 0.0)
                store.add_results(run_id, [ResultRow("qa", "exact_match", "none", value, 0.01 * i, 4),
                                           ResultRow("ppl", "word_perplexity", "none", 30.0 - i, None, 2),
                                           ResultRow("humaneval", "pass@1", "create_test", float(i == 3), 0.5, 1)])
                store.add_samples(run_id, "qa", _records(i))
                store.add_samples(run_id, "humaneval", _humaneval(i == 3))
                store.finish_run(run_id, "finished", {}, finished_at=f"2024-01-0{i}T01:00:0{int(attempt == 'new')}")
                runs[NAMES[fp]] = run_id
        store.create_run("failed-run", "small", "sha", BASE, NAMES[BASE], {}, None)
        store.add_results("failed-run", [ResultRow("qa", "exact_match", "none", 0.99, None, 4)])
        store.finish_run("failed-run", "failed", {}, finished_at="2024-02-01T00:00:00")
        store.upsert_model(IMPORTED, NAMES[IMPORTED], None, metadata={"source": "lm-eval",
                                                                      "model_num_parameters": 1234})
        store.create_run("imp", "lm-eval", "sha", IMPORTED, NAMES[IMPORTED], {}, None, status="imported")
        store.add_results("imp", [ResultRow("qa", "exact_match", "none", 0.9, 0.02, 10)])
        store.finish_run("imp", "imported", {}, finished_at="2023-12-01T00:00:00")
        runs[NAMES[IMPORTED]] = "imp"
    return runs


@pytest.fixture
def small_store(store_spec: str | Path) -> Iterator[tuple[str | Path, dict[str, str]]]:
    yield store_spec, write_store(store_spec)


#: ``conn(query, *args)``: a query of :mod:`evalkit.leaderboard.queries` on one snapshot, as the app runs it.
Query = Callable[..., Any]


@pytest.fixture
def conn(small_store: tuple[str | Path, dict[str, str]]) -> Iterator[Query]:
    with Store(small_store[0]) as store:
        yield functools.partial(queries.read, store)


# -- queries -------------------------------------------------------------------------------------


def test_leaderboard_results_hold_each_models_latest_finished_or_imported_run(
        conn: Query, small_store: tuple[Path, dict[str, str]]) -> None:
    results = conn(queries.leaderboard_results)
    assert set(results["run_id"]) == set(small_store[1].values())  # not the old runs, not the failed one
    with Store(small_store[0]) as store:
        for model, run_id in small_store[1].items():
            stored = {(r.task, r.metric, r.filter): r.value for r in store.get_results(run_id)}
            mine = results[results["model"] == model]
            assert {(t, m, f): v for t, m, f, v in zip(mine["task"], mine["metric"], mine["filter"], mine["value"])
                    } == stored


def test_model_details_know_parameters_parents_lineage_and_imports(conn: Query) -> None:
    details = conn(queries.model_details).set_index("model")
    assert list(details.index) == sorted(NAMES[fp] for fp in (BASE, SFT, DPO, IMPORTED))
    assert details.loc["hf-imported", "parameters"] == 1234 and bool(details.loc["hf-imported", "imported"])
    assert not details.loc["tiny-dpo", "imported"]
    assert details.loc["tiny-dpo", "parent"] == "dpo-adapter"
    assert (details.loc["tiny-dpo", "lineage_kind"], details.loc["tiny-dpo", "lineage_method"]) == ("merge", "dpo")
    assert details.loc["tiny-dpo", "adapter_parent"] == "tiny-sft"
    assert details.loc["tiny-base", "last_run"] == "2024-01-01T01:00:01"  # the failed run is not "last run"


def test_lineage_chain_has_deltas_equal_to_the_stored_differences(
        conn: Query, small_store: tuple[Path, dict[str, str]]) -> None:
    described, rows, stages = conn(queries.lineage_chain, DPO)
    assert stages == ["base", "SFT", "DPO"]
    assert described == ["base: base tiny-base", "SFT: adapter sft-adapter", "SFT: merged tiny-sft",
                         "DPO: adapter dpo-adapter", "DPO: merged tiny-dpo"]
    with Store(small_store[0]) as store:
        qa = [next(r.value for r in store.get_results(small_store[1][m]) if r.task == "qa")
              for m in ("tiny-base", "tiny-sft", "tiny-dpo")]
    row = next(r for r in rows if r.task == "qa")
    assert row.values == pytest.approx(qa)
    assert row.deltas[0] is None and row.deltas[1:] == pytest.approx([qa[1] - qa[0], qa[2] - qa[1]])
    frame = rv.lineage_frame(rows, stages)
    assert list(frame.columns) == ["task", "metric", "base", "SFT", "Δ SFT", "DPO", "Δ DPO"]
    assert frame.loc[frame["task"] == "humaneval", "metric"].item() == "pass@1,create_test"


def test_loss_curve_of_a_merge_is_its_adapters(conn: Query) -> None:
    assert conn(queries.loss_curve, SFT)["loss"].tolist() == [2.0, 1.5]
    assert conn(queries.loss_curve, SFT_ADAPTER)["step"].tolist() == [1, 2]
    assert conn(queries.loss_curve, BASE).empty


def test_samples_page_paginates_and_filters_failures_in_sql(
        conn: Query, small_store: tuple[Path, dict[str, str]]) -> None:
    run = small_store[1]["tiny-sft"]  # 2 of 4 right
    assert conn(queries.sample_metric_names, run, "qa") == ["exact_match"]
    assert conn(queries.sample_metric_names, run, "humaneval") == ["pass@1"]
    page = conn(queries.samples_page, run, "qa", offset=1, limit=2)
    assert conn(queries.samples_count, run, "qa") == 4 and [r["doc_id"] for r in page] == [1, 2]
    page = conn(queries.samples_page, run, "qa", failing_on="exact_match")
    assert conn(queries.samples_count, run, "qa", failing_on="exact_match") == 2
    assert [r["doc_id"] for r in page] == [2, 3] and all(r["exact_match"] < 1 for r in page)
    failing = conn(queries.samples_page, small_store[1]["tiny-base"], "humaneval", failing_on="pass@1")
    assert [r["doc_id"] for r in failing] == ["HumanEval/0"]
    other = conn(queries.samples_for_docs, small_store[1]["tiny-dpo"], "qa", (2, 3))
    assert [(r["doc_id"], r["exact_match"]) for r in other] == [(2, 1.0), (3, 0.0)]


def test_sample_runs_list_run_and_task_with_counts(conn: Query) -> None:
    runs = conn(queries.sample_runs)
    assert set(zip(runs["task"], runs["n"])) == {("qa", 4), ("humaneval", 1)}
    assert runs["model"].iloc[0] == "tiny-dpo"  # newest first


# -- leaderboard functions -----------------------------------------------------------------------


def _long(rows: list[tuple[str, str, str, str, float, float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "suite": s, "task": t, "metric": "acc", "filter": "none", "value": v,
                          "stderr": e, "n": 1, "run_id": f"{m}-{s}", "finished_at": f"t-{s}", "status": "finished",
                          "fingerprint": m} for m, s, t, _, v, e in rows])


def test_pivot_one_row_per_model_one_column_per_task_metric() -> None:
    long = _long([("a", "s1", "x", "", 0.5, 0.1), ("a", "s1", "y", "", 0.7, None), ("b", "s1", "x", "", 0.2, 0.05)])
    values, stderr = rv.pivot(long)
    assert list(values.columns) == ["x/acc", "y/acc"]
    assert values.loc["a", "x/acc"] == 0.5 and math.isnan(values.loc["b", "y/acc"])
    assert stderr.loc["b", "x/acc"] == 0.05 and math.isnan(stderr.loc["a", "y/acc"])


def test_pivot_keeps_the_newer_suites_value_of_a_shared_column() -> None:
    values, _ = rv.pivot(_long([("a", "s2", "x", "", 0.9, None), ("a", "s1", "x", "", 0.1, None)]))
    assert values.loc["a", "x/acc"] == 0.9  # t-s2 sorts after t-s1


def test_filter_column_names_follow_lm_eval() -> None:
    long = _long([("a", "s", "he", "", 0.5, None)]).assign(metric="pass@1", filter="create_test")
    assert list(rv.pivot(long)[0].columns) == ["he/pass@1,create_test"]


def test_average_is_the_mean_of_the_chosen_columns_and_nan_when_one_is_missing() -> None:
    values = pd.DataFrame({"x": [0.2, 0.4], "y": [0.6, np.nan], "z": [1.0, 1.0]}, index=["a", "b"])
    assert rv.average(values, ["x", "y"]).tolist()[0] == pytest.approx(0.4)
    assert math.isnan(rv.average(values, ["x", "y"])["b"])
    assert rv.average(values, ["x", "z"]).tolist() == pytest.approx([0.6, 0.7])
    assert rv.average(values, []).isna().all()


def test_best_mask_knows_lower_is_better_and_ties() -> None:
    values = pd.DataFrame({"t/acc": [0.5, 0.5, 0.1], "w/word_perplexity": [20.0, 10.0, np.nan]}, index=list("abc"))
    mask = rv.best_mask(values)
    assert mask["t/acc"].tolist() == [True, True, False]
    assert mask["w/word_perplexity"].tolist() == [False, True, False]
    assert rv.is_lower_better("lambada/perplexity,none") and not rv.is_lower_better("hellaswag/acc_norm")


def test_with_stderr_text() -> None:
    values = pd.DataFrame({"x": [0.5123, np.nan, 0.25]})
    stderr = pd.DataFrame({"x": [0.0101, 0.1, np.nan]})
    assert rv.with_stderr(values, stderr)["x"].tolist() == ["0.512 ± 0.010", "", "0.250"]


def test_lineage_badges() -> None:
    assert rv.lineage_badge("train", "sft", "base", None) == "SFT of base"
    assert rv.lineage_badge("merge", "dpo", "dpo-adapter", "tiny-sft") == "DPO of tiny-sft (merged)"
    assert rv.lineage_badge(None, None, "base", None) == "derived from base"
    assert rv.lineage_badge(None, None, None, None) == "base"


def test_leaderboard_frame_filters_marks_imports_and_averages(conn: Query) -> None:
    results, details = conn(queries.leaderboard_results), conn(queries.model_details)
    table, stderr = rv.leaderboard_frame(results, details)
    assert table["model"].tolist() == ["hf-imported", "tiny-base", "tiny-dpo", "tiny-sft"]
    assert table.set_index("model").loc["hf-imported", "source"] == rv.LM_EVAL_SOURCE
    assert table.set_index("model").loc["tiny-dpo", "lineage"] == "DPO of tiny-sft (merged)"
    assert table.set_index("model").loc["tiny-base", "page"] == "model?model=tiny-base"
    assert rv.metric_columns(table) == ["humaneval/pass@1,create_test", "ppl/word_perplexity", "qa/exact_match"]
    assert stderr.shape == (4, 3)
    only_small, _ = rv.leaderboard_frame(results, details, suites=["small"], name_contains="SFT")
    assert only_small["model"].tolist() == ["tiny-sft"]
    qa_only, _ = rv.leaderboard_frame(results, details, tasks=["qa"])
    assert rv.metric_columns(qa_only) == ["qa/exact_match"] and len(qa_only) == 4
    averaged = rv.with_average(table, ["qa/exact_match", "humaneval/pass@1,create_test"])
    dpo = averaged.set_index("model").loc["tiny-dpo"]
    assert dpo[rv.AVERAGE] == pytest.approx((dpo["qa/exact_match"] + dpo["humaneval/pass@1,create_test"]) / 2)
    csv = pd.read_csv(pd.io.common.BytesIO(rv.to_csv(averaged)))
    assert "page" not in csv.columns and csv["model"].tolist() == table["model"].tolist()


# -- model page and samples ----------------------------------------------------------------------


def test_comparison_has_stderr_bounds_in_the_chosen_order(conn: Query) -> None:
    results = conn(queries.leaderboard_results)
    frame = rv.comparison(results, ["tiny-dpo", "tiny-base"], "qa/exact_match")
    assert frame["model"].tolist() == ["tiny-dpo", "tiny-base"]
    assert frame["lower"].tolist() == pytest.approx([0.35 - 0.03, 0.15 - 0.01])
    assert frame["upper"].tolist() == pytest.approx([0.35 + 0.03, 0.15 + 0.01])
    assert rv.comparison(results, ["tiny-dpo"], "nope/acc").empty


def test_model_metrics_table(conn: Query) -> None:
    metrics = rv.model_metrics(conn(queries.model_results, "tiny-sft"))
    assert set(metrics["metric"]) == {"exact_match", "word_perplexity", "pass@1,create_test"}


def test_sample_table_shows_prompt_output_answer_scores_and_verdict() -> None:
    table = rv.sample_table(_humaneval(False) + _records(1, n=1), ["pass@1", "exact_match"])
    he, qa = table.iloc[0], table.iloc[1]
    assert he["verdict"] == "failed: AssertionError" and he["pass@1"] == 0.0
    assert qa["prompt"] == "Question 0?" and qa["output"] == "answer 0 by 1" and qa["answer"] == "a0"
    assert qa["target"] == "a0" and qa["exact_match"] == 1.0 and qa["verdict"] == ""
    assert rv.prompt_text([["ctx", " A"], ["ctx", " B"]]) == "ctx\n→  A\n→  B"


def test_side_by_side_pairs_items_and_keeps_missing_ones() -> None:
    left = rv.sample_table(_records(2), ["exact_match"])
    right = rv.sample_table(_records(4)[:3], ["exact_match"])
    both = rv.side_by_side(left, right, "A", "B")
    assert both["doc_id"].tolist() == [0, 1, 2, 3]
    assert both["exact_match [A]"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert both["exact_match [B]"].tolist()[:3] == [1.0, 1.0, 1.0] and math.isnan(both["exact_match [B]"].iloc[3])


def test_side_labels_tell_two_runs_of_one_model_apart() -> None:
    assert rv.side_labels("a", "b") == ("a", "b") and rv.side_labels("a", "a") == ("a (A)", "a (B)")


def test_unit_score_metrics_and_page_count() -> None:
    assert rv.unit_score_metrics({"doc_id": 0, "acc": 1, "word_perplexity": [1.0, 2], "bleu": 35.0}) == ["acc"]
    assert (rv.page_count(0, 50), rv.page_count(50, 50), rv.page_count(51, 50)) == (1, 1, 2)


def test_the_default_average_covers_the_higher_is_better_columns_most_models_have() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "x/acc": [0.5, 0.7], "y/acc": [0.1, None],
                          "ppl/word_perplexity": [9.0, 8.0]})
    assert rv.default_average_columns(table) == ["x/acc"]
    assert rv.default_average_columns(table.drop(columns=["x/acc"])) == ["y/acc"]
    assert rv.default_average_columns(table[["model", "ppl/word_perplexity"]]) == []
    with_bleu = table.assign(**{"qa/bleu": [24.0, 31.5]})  # 0-100: left out while 0-1 columns exist
    assert rv.default_average_columns(with_bleu) == ["x/acc"]
    assert rv.default_average_columns(with_bleu[["model", "qa/bleu"]]) == ["qa/bleu"]
    assert rv.short_time("2026-12-01T19:09:51.440211+00:00") == "2026-12-01 19:09" and rv.short_time(None) is None


def test_the_default_average_is_the_open_llm_leaderboards_when_a_model_has_its_six_columns() -> None:
    six = {c: [0.5, 0.4] for c in rv.OPEN_LLM_LEADERBOARD_V1}
    table = pd.DataFrame({"model": ["a", "b"], **six, "arc_challenge/acc": [0.9, 0.9], "extra/acc": [0.1, 0.2]})
    assert rv.default_average_columns(table) == list(rv.OPEN_LLM_LEADERBOARD_V1)
    assert rv.average(table, rv.default_average_columns(table)).tolist() == pytest.approx([0.5, 0.4])
    # Missing one of the six for every model: the generic rule (higher-is-better columns most models have).
    partial = table.drop(columns=["gsm8k/exact_match,strict-match"])
    assert "extra/acc" in rv.default_average_columns(partial)
