"""What a run leaves behind: ``results.json`` (lm-evaluation-harness's key scheme), one
``samples_TASK.jsonl`` per task, and the table printed at the end.

Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evalkit.scores import Aggregate, finite_or_none


def write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl_atomic(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return str(obj)


def task_results_block(task: str, by_filter: dict[str, dict[str, Aggregate]]) -> dict[str, Any]:
    """``{"alias": task, "acc,none": 0.5, "acc_stderr,none": 0.1, ...}`` as lm-eval writes it."""
    block: dict[str, Any] = {"alias": task}
    for filter_name, metrics in by_filter.items():
        for metric, agg in metrics.items():
            block[f"{metric},{filter_name}"] = agg.value
            block[f"{metric}_stderr,{filter_name}"] = "N/A" if agg.stderr is None else agg.stderr
    return block


def format_table(rows: list[tuple[str, str, str, float, float | None, int]]) -> str:
    """A fixed-width table of (task, metric, filter, value, stderr, n)."""
    header = ("task", "metric", "filter", "value", "± stderr", "n")
    body = [(t, m, f, _fmt(v), "" if (shown := finite_or_none(se)) is None else f"± {_fmt(shown)}", str(n))
            for t, m, f, v, se, n in rows]
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 1e5 else f"{x:.4g}"
