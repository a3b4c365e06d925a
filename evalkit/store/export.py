"""Export one stored run as lm-evaluation-harness style JSON or as CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from evalkit.errors import UserError
from evalkit.store.records import ResultRow
from evalkit.store.store import Store

ExportFormat = Literal["json", "csv"]
EXPORT_FORMATS: tuple[str, ...] = ("json", "csv")
CSV_HEADER: tuple[str, ...] = ("run_id", "task", "metric", "filter", "value", "stderr", "n")


def export_run(store: Store, run_id: str, fmt: ExportFormat) -> str:
    """Return run ``run_id`` (or a unique prefix of it) rendered as ``fmt``, ending in a newline.

    ``json`` follows lm-evaluation-harness's key scheme, so tools that read its results files
    read this too: ``results[task]["metric,filter"]``, ``results[task]["metric_stderr,filter"]``
    (``"N/A"`` when unknown), ``n-samples[task]`` and the run's ``config``; an ``evalkit`` key adds
    the run's identity. ``csv`` has the header ``run_id,task,metric,filter,value,stderr,n`` and
    one row per result (empty stderr when unknown). Raises ``UserError`` for an unknown run or
    format.
    """
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    found = store.get_run(run_id)
    if found is None:
        raise UserError(f"no run matches {run_id!r}")
    run: dict[str, Any] = found["run"]
    results: list[ResultRow] = found["results"]
    if fmt == "json":
        return _to_json(run, results)
    return _to_csv(run["run_id"], results)


def _to_json(run: dict[str, Any], results: list[ResultRow]) -> str:
    per_task: dict[str, dict[str, Any]] = {}
    n_samples: dict[str, dict[str, int]] = {}
    for row in results:
        metrics = per_task.setdefault(row.task, {})
        metrics[f"{row.metric},{row.filter}"] = row.value
        metrics[f"{row.metric}_stderr,{row.filter}"] = "N/A" if row.stderr is None else row.stderr
        # Metrics of one task can be computed over different numbers of documents (lm-eval
        # reports the largest too); the store keeps no separate "original" count.
        n = max(row.n, n_samples.get(row.task, {}).get("effective", 0))
        n_samples[row.task] = {"original": n, "effective": n}
    document = {
        "results": per_task,
        "n-samples": n_samples,
        "config": run["config"],
        "model_name": run["model_name"],
        "evalkit": {
            key: run[key]
            for key in (
                "run_id",
                "suite",
                "suite_sha256",
                "model_fingerprint",
                "status",
                "started_at",
                "finished_at",
                "timing",
            )
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _to_csv(run_id: str, results: list[ResultRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in results:
        stderr = "" if row.stderr is None else repr(row.stderr)
        writer.writerow((run_id, row.task, row.metric, row.filter, repr(row.value), stderr, row.n))
    return buffer.getvalue()
