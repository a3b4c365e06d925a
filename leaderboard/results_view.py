"""What the results pages show, computed from what :mod:`evalkit.leaderboard.queries` read: pure
functions over pandas frames (no Streamlit, no I/O), so each is unit-tested and the pages only lay out.

- Leaderboard: one row per model, one column per ``task/metric`` (the filter is part of the metric's
  name where there is one, as ``evalkit models lineage`` and lm-eval's files spell it), an average over
  the columns the user picks, the best value of each column, ``value ± stderr`` text, lineage badges.
- Model page: the model's metrics, a comparison of one column across models with stderr bars, the
  lineage table with deltas.
- Samples page: a stored record as the prompt, output, target, filtered answer, scores and verdict.
  A *failure* is an item whose chosen accuracy-like metric (a per-item score in [0, 1]: acc,
  exact_match, pass@1) is below 1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evalkit.harness.lineage_table import StageRow

#: The leaderboard's descriptive columns, in the order shown, before the metric columns.
INFO_COLUMNS = ["model", "parameters", "parent", "lineage", "source", "last run", "page"]
AVERAGE = "average"
LM_EVAL_SOURCE = "lm-eval import"

# lm-eval tasks (imported results and task files) report these lower-is-better metrics.
_LM_EVAL_LOWER_IS_BETTER = frozenset({"perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte", "ter"})


# -- leaderboard ---------------------------------------------------------------------------------


@functools.cache
def lower_is_better_metrics() -> frozenset[str]:
    """Metric names where lower is better: those every registered evaluator declares so
    (``higher_is_better``: False), plus lm-eval's perplexities."""
    from evalkit.evaluator import evaluator_registry

    registry = evaluator_registry()
    declared = {metric for name in registry.names()
                for metric, higher in registry.get(name).higher_is_better.items() if not higher}
    return frozenset(declared) | _LM_EVAL_LOWER_IS_BETTER


def is_lower_better(column: str) -> bool:
    """Whether lower is better in a ``task/metric[,filter]`` column."""
    metric = column.split("/", 1)[-1].split(",", 1)[0]
    return metric in lower_is_better_metrics()


def with_columns(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` (rows as :func:`queries.leaderboard_results` returns them) with ``column``:
    ``task/metric`` or ``task/metric,filter`` (the metric as ``lineage_table.metric_label`` names it)."""
    label = np.where(results["filter"] == "none", results["metric"], results["metric"] + "," + results["filter"])
    return results.assign(column=results["task"] + "/" + label)


def select_results(results: pd.DataFrame, suites: Sequence[str] = (), tasks: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of the chosen suites and tasks (an empty choice keeps all)."""
    keep = np.ones(len(results), dtype=bool)
    if suites:
        keep &= results["suite"].isin(list(suites)).to_numpy()
    if tasks:
        keep &= results["task"].isin(list(tasks)).to_numpy()
    return results[keep]


def pivot(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, stderr): model × column frames. A model with the same column in two suites shows the
    newer run's value."""
    rows = with_columns(results).sort_values("finished_at", kind="stable")
    rows = rows.drop_duplicates(["model", "column"], keep="last")
    values = rows.pivot(index="model", columns="column", values="value")
    stderr = rows.pivot(index="model", columns="column", values="stderr").reindex_like(values)
    values.columns.name = stderr.columns.name = None
    return values, stderr


def average(values: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The mean over ``columns`` per model; NaN where a model lacks one of them (an average over fewer
    tasks would not be comparable with the others)."""
    if not columns:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    return values[list(columns)].mean(axis=1, skipna=False)


def best_mask(values: pd.DataFrame) -> pd.DataFrame:
    """True where a cell holds its column's best value (the lowest for lower-is-better metrics);
    ties are all best, NaN never is."""
    lower = np.array([is_lower_better(str(c)) for c in values.columns], dtype=bool)
    best = np.where(lower, values.min(axis=0).to_numpy(), values.max(axis=0).to_numpy())
    return pd.DataFrame(values.to_numpy() == best, index=values.index, columns=values.columns)


def best_styles(values: pd.DataFrame, css: str) -> pd.DataFrame:
    """``css`` on each column's best cell (:func:`best_mask`), "" elsewhere: a Styler's ``apply`` result."""
    return pd.DataFrame(np.where(best_mask(values).to_numpy(), css, ""), index=values.index, columns=values.columns)


def with_stderr(values: pd.DataFrame, stderr: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``"0.512 ± 0.010"`` text per cell (the value alone where no stderr is known, "" where no value)."""
    number = values.map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    error = stderr.reindex_like(values).map(lambda v: "" if pd.isna(v) else f" ± {v:.{digits}f}")
    return number + error.where(number != "", "")


def lineage_badge(kind: Any, method: Any, parent: Any, adapter_parent: Any) -> str:
    """"SFT of X", "DPO of Y (merged)", "derived from Z" or "base": how the model was made (what is
    not a string, such as a NaN from an SQL NULL, counts as unknown)."""
    kind, method, parent, adapter_parent = (v if isinstance(v, str) else None
                                            for v in (kind, method, parent, adapter_parent))
    step = (method or "tuned").upper()
    if kind == "train":
        return f"{step} of {parent}"
    if kind == "merge":
        return f"{step} of {adapter_parent or parent} (merged)"
    return f"derived from {parent}" if parent else "base"


def model_page_link(model: str) -> str:
    """The model page's address for ``model`` (relative to the app)."""
    return f"model?model={quote(model, safe='')}"


def leaderboard_frame(results: pd.DataFrame, details: pd.DataFrame, *, suites: Sequence[str] = (),
                      tasks: Sequence[str] = (), name_contains: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, stderr): the leaderboard's rows (:data:`INFO_COLUMNS` then one column per metric) for
    the chosen suites and tasks and models whose name contains ``name_contains`` (case-insensitive),
    and the matching stderr frame (same index, metric columns only). Models without a result in the
    choice are left out."""
    values, stderr = pivot(select_results(results, suites, tasks))
    if name_contains:
        keep = values.index.str.contains(name_contains, case=False, regex=False)
        values, stderr = values[keep], stderr[keep]
    info = details.set_index("model").reindex(values.index)
    info = info.astype(object).where(info.notna(), None)  # SQL NULLs read back as NaN: make them None
    table = pd.DataFrame({
        "model": values.index,
        "parameters": info["parameters"].to_numpy(),
        "parent": info["parent"].to_numpy(),
        "lineage": [lineage_badge(*row) for row in zip(info["lineage_kind"], info["lineage_method"],
                                                        info["parent"], info["adapter_parent"])],
        "source": np.where(info["imported"].eq(True), LM_EVAL_SOURCE, "evalkit run"),
        "last run": [short_time(t) for t in info["last_run"]],
        "page": [model_page_link(m) for m in values.index],
    }, index=values.index)
    table = pd.concat([table, values], axis=1).reset_index(drop=True)
    return table, stderr.reset_index(drop=True)


#: The Open LLM Leaderboard v1's headline number: the plain mean of these six columns
#: (``suites/open_llm_leaderboard_v1.yaml``), each in the metric that leaderboard reported.
OPEN_LLM_LEADERBOARD_V1 = ("arc_challenge/acc_norm", "hellaswag/acc_norm", "mmlu/acc", "truthfulqa_mc2/acc",
                           "winogrande/acc", "gsm8k/exact_match,strict-match")


def default_average_columns(table: pd.DataFrame) -> list[str]:
    """The columns averaged until the user chooses. When some model has all six Open LLM Leaderboard v1
    columns, those six, as that leaderboard averaged them. Otherwise the higher-is-better ones (a
    perplexity in a mean of accuracies would swamp it and reward the wrong direction) on a 0–1 scale
    (BLEU's 0–100 would outweigh every accuracy), among them those the most shown models have, so that
    models evaluated on the same suite get an average even when others ran something else."""
    leaderboard = list(OPEN_LLM_LEADERBOARD_V1)
    if set(leaderboard) <= set(table.columns) and table[leaderboard].notna().all(axis=1).any():
        return leaderboard
    higher = [c for c in metric_columns(table) if not is_lower_better(c)]
    unit = [c for c in higher if table[c].dropna().between(0, 1).all()]
    higher = unit or higher
    if not higher:
        return []
    counts = table[higher].notna().sum()
    return [c for c in higher if counts[c] == counts.max()]


def short_time(value: Any) -> str | None:
    """An ISO-8601 UTC time as ``YYYY-MM-DD HH:MM`` (what a table cell needs); ``None`` stays ``None``."""
    return None if value is None else str(value)[:16].replace("T", " ")


def with_average(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``table`` with an :data:`AVERAGE` column after the info columns."""
    metric_columns = [c for c in table.columns if c not in INFO_COLUMNS]
    out = table[INFO_COLUMNS].copy()
    out[AVERAGE] = average(table, columns).to_numpy()
    return pd.concat([out, table[metric_columns]], axis=1)


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The metric columns of a leaderboard table (everything but the info columns and the average)."""
    return [str(c) for c in table.columns if c not in INFO_COLUMNS and c != AVERAGE]


def to_csv(table: pd.DataFrame) -> bytes:
    """The table as CSV bytes (UTF-8), without the page links."""
    return table.drop(columns=["page"], errors="ignore").to_csv(index=False).encode("utf-8")


# -- model page ----------------------------------------------------------------------------------


def model_metrics(results: pd.DataFrame) -> pd.DataFrame:
    """One model's results as a table: suite, task, metric (with its filter), value, stderr, n, run."""
    rows = with_columns(results)
    metric = rows["column"].str.split("/", n=1).str[1]
    return pd.DataFrame({"suite": rows["suite"], "task": rows["task"], "metric": metric, "value": rows["value"],
                         "stderr": rows["stderr"], "n": rows["n"], "run": rows["run_id"]}).reset_index(drop=True)


def comparison(results: pd.DataFrame, models: Sequence[str], column: str) -> pd.DataFrame:
    """``column``'s value per chosen model with its ±1 stderr interval (lower, upper equal the value
    when no stderr is known), for a bar chart with error bars."""
    values, stderr = pivot(results[results["model"].isin(list(models))])
    if column not in values.columns:
        return pd.DataFrame(columns=["model", "value", "stderr", "lower", "upper"])
    value, error = values[column], stderr[column].fillna(0.0)
    frame = pd.DataFrame({"model": values.index, "value": value.to_numpy(), "stderr": stderr[column].to_numpy(),
                          "lower": (value - error).to_numpy(), "upper": (value + error).to_numpy()})
    order = {m: i for i, m in enumerate(models)}
    return frame.dropna(subset=["value"]).sort_values("model", key=lambda s: s.map(order)).reset_index(drop=True)


def lineage_frame(rows: Sequence[StageRow], stages: Sequence[str]) -> pd.DataFrame:
    """The lineage results table: task, metric, then each stage's value followed (after the first)
    by ``Δ stage``, its difference from the stage before."""
    columns: dict[str, list[Any]] = {"task": [r.task for r in rows], "metric": [r.metric for r in rows]}
    for i, stage in enumerate(stages):
        columns[stage] = [r.values[i] for r in rows]
        if i > 0:
            columns[f"Δ {stage}"] = [r.deltas[i] for r in rows]
    return pd.DataFrame(columns)


# -- samples page --------------------------------------------------------------------------------

#: The keys of a stored sample record that are not metric values (what :mod:`evalkit.runner` writes).
RECORD_FIELDS = frozenset({"doc_id", "filter", "doc", "target", "arguments", "resps", "filtered_resps", "details"})


def metric_names(record: dict[str, Any]) -> list[str]:
    """The metric values a stored sample record carries (every key the runner adds besides its fields)."""
    return [key for key in record if key not in RECORD_FIELDS]


def page_metrics(records: Iterable[dict[str, Any]]) -> list[str]:
    """The metrics any of ``records`` carries, in first-seen order (a page's metric columns)."""
    return list(dict.fromkeys(m for r in records for m in metric_names(r)))


def unit_score_metrics(record: dict[str, Any]) -> list[str]:
    """The record's metrics whose value is a score in [0, 1] (accuracy-like: failures are defined on these)."""
    return [key for key in metric_names(record)
            if isinstance(record[key], (int, float)) and 0 <= record[key] <= 1]


def prompt_text(arguments: Any) -> str:
    """The prompt(s) a record's requests sent: each request's first argument, once each (the choices of
    a multiple-choice item share their context; their continuations follow as "→ ...")."""
    if not isinstance(arguments, list):
        return _text(arguments)
    contexts = list(dict.fromkeys(_text(a[0]) if isinstance(a, list) and a else _text(a) for a in arguments))
    continuations = [_text(a[1]) for a in arguments if isinstance(a, list) and len(a) > 1 and isinstance(a[1], str)]
    return "\n---\n".join(contexts) + "".join(f"\n→ {c}" for c in continuations)


def execution_verdict(record: dict[str, Any]) -> str:
    """HumanEval's execution verdict(s) of the item ("passed", "failed: ...", "timeout"), "" for other tasks."""
    executions = (record.get("details") or {}).get("execution") or []
    parts = []
    for e in executions:
        detail = str(e.get("detail") or "").strip().splitlines()
        parts.append(str(e.get("verdict")) + (f": {detail[-1]}" if detail and not e.get("passed") else ""))
    return "; ".join(parts)


def sample_table(records: Iterable[dict[str, Any]], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per record: doc_id, filter, prompt, output, target, answer (filtered), each metric, verdict."""
    rows = []
    for r in records:
        row = {"doc_id": r.get("doc_id"), "filter": r.get("filter"), "prompt": prompt_text(r.get("arguments")),
               "output": _text(r.get("resps")), "target": _text(r.get("target")),
               "answer": _text(r.get("filtered_resps"))}
        row.update({m: _score(r.get(m)) for m in metrics})
        row["verdict"] = execution_verdict(r)
        rows.append(row)
    return pd.DataFrame(rows, columns=["doc_id", "filter", "prompt", "output", "target", "answer", *metrics,
                                       "verdict"])


def side_by_side(left: pd.DataFrame, right: pd.DataFrame, left_name: str, right_name: str) -> pd.DataFrame:
    """Two models' :func:`sample_table` rows on the same items (doc_id, filter): the shared prompt and
    target once, then each model's own columns suffixed `` [name]``. Items the right model lacks keep
    empty cells. ``left_name`` and ``right_name`` must differ."""
    shared = ["doc_id", "filter", "prompt", "target"]
    left = left.rename(columns={c: f"{c} [{left_name}]" for c in left.columns if c not in shared})
    right = right.drop(columns=["prompt", "target"])
    right = right.rename(columns={c: f"{c} [{right_name}]" for c in right.columns if c not in shared})
    return left.merge(right, on=["doc_id", "filter"], how="left")


def side_labels(left_model: str, right_model: str) -> tuple[str, str]:
    """Column suffixes for two runs side by side: the model names, marked A and B when they are the same."""
    return (left_model, right_model) if left_model != right_model else (f"{left_model} (A)", f"{right_model} (B)")


def page_count(total: int, size: int) -> int:
    """How many pages of ``size`` items ``total`` items fill (at least one, so an empty view has a page)."""
    return max(1, -(-total // size))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1:
        return _text(value[0])  # one request, one response: no brackets around it
    return json.dumps(value, ensure_ascii=False)


def _score(value: Any) -> float | str | None:
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    return json.dumps(value)  # a per-item pair such as perplexity's [log-prob, weight]
