"""``evalkit models lineage MODEL``: the chain base → SFT → DPO with each checkpoint's results and deltas.

The chain is walked from the model up through parent fingerprints: the store's lineage records
first, then its models table (``evalkit merge`` registers an adapter with its base as parent even
when nothing recorded its training), then the folder's ``evalkit_lineage.json``, and for an
adapter folder known to nobody, its ``base_model_name_or_path``. It is shown as users think of
it: each training step starts a *stage* (SFT, DPO) that holds its adapter and the merge of that
adapter; the results table has one column per stage (its most derived evaluated checkpoint) and
the delta against the stage before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import UserError
from evalkit.harness.lineage import LineageRecord, read_lineage, record_from_store

if TYPE_CHECKING:
    from evalkit.models.resolve import ModelRef
    from evalkit.store import ResultRow, Store

MAX_DEPTH = 64  # a parent cycle (a corrupted store) must not loop forever


@dataclass
class Checkpoint:
    """One model in the chain, what made it, and its latest evaluation."""

    fingerprint: str
    name: str
    path: str | None
    record: LineageRecord | None
    parent: str | None
    stage: str = ""
    role: str = ""  # base | adapter | merged | checkpoint (a full fine-tune)
    run_id: str | None = None
    results: dict[tuple[str, str], float] = field(default_factory=dict)


def build_chain(store: Store, ref: ModelRef) -> list[Checkpoint]:
    """The chain from the root model down to ``ref``, stages and latest results filled in."""
    first = _checkpoint(store, ref.fingerprint, str(ref.path) if ref.path else None, ref.name, ref)
    return _walk(store, first, ref.spec)


def build_chain_from_store(store: Store, fingerprint: str) -> list[Checkpoint]:
    """The chain down to the stored model ``fingerprint`` (what the leaderboard's model page shows):
    the same walk as :func:`build_chain`, starting from what the store knows of the model."""
    return _walk(store, _checkpoint(store, fingerprint, None, None, None), fingerprint[:12])


def _walk(store: Store, first: Checkpoint, spec: str) -> list[Checkpoint]:
    chain = [first]
    while chain[-1].parent is not None:
        if len(chain) >= MAX_DEPTH or chain[-1].parent in {c.fingerprint for c in chain}:
            raise UserError(f"the lineage of {spec} loops or is deeper than {MAX_DEPTH} steps (store {store.location})")
        chain.append(_checkpoint(store, chain[-1].parent, _parent_path(chain[-1]), None, None))
    chain.reverse()
    _name_stages(chain)
    for checkpoint in chain:
        latest = store.latest_results(checkpoint.fingerprint)
        if latest is not None:
            checkpoint.run_id = latest[0]
            checkpoint.results = _values(latest[1])
    return chain


def format_chain(chain: list[Checkpoint]) -> str:
    """The chain, one line per checkpoint, then the results table with deltas."""
    lines = [" → ".join(_stage_names(chain)), ""]
    for c in chain:
        lines.append(f"  {c.stage:8} {c.role:10} {c.name:28} {c.fingerprint[:12]}  {_describe(c)}")
    lines += ["", results_table(chain)]
    sources = [f"{stage}: {c.name} (run {c.run_id})" for stage, c in stage_columns(chain) if c is not None]
    if sources:
        lines += ["", "results from each checkpoint's latest finished run: " + "; ".join(sources)]
    return "\n".join(lines)


@dataclass(frozen=True)
class StageRow:
    """One task/metric across the stages: each stage's value and its delta against the stage before
    (the last stage before it that has the metric); ``None`` where there is nothing to show."""

    task: str
    metric: str
    values: list[float | None]
    deltas: list[float | None]  # deltas[0] is always None: the first stage has no parent


def stage_rows(chain: list[Checkpoint]) -> list[StageRow]:
    """The results table's content: one row per task/metric, one value and delta per stage column."""
    columns = stage_columns(chain)
    keys = sorted({k for _, c in columns if c is not None for k in c.results})
    rows = []
    for key in keys:
        values: list[float | None] = []
        deltas: list[float | None] = []
        previous: float | None = None
        for _, c in columns:
            value = c.results.get(key) if c is not None else None
            values.append(value)
            deltas.append(value - previous if value is not None and previous is not None else None)
            if value is not None:
                previous = value  # a stage without this metric compares the next one to the last known
        rows.append(StageRow(key[0], key[1], values, deltas))
    return rows


def results_table(chain: list[Checkpoint]) -> str:
    """task/metric rows × one column per stage, each but the first followed by its delta."""
    columns = stage_columns(chain)
    if not any(c.results for _, c in columns if c is not None):
        return "no evaluation results in the store for this chain (run `evalkit run SUITE --model CHECKPOINT`)"
    header = ["task", "metric"]
    for i, (stage, _) in enumerate(columns):
        header += [stage] if i == 0 else [stage, f"Δ {stage}"]
    rows = [header]
    for stage_row in stage_rows(chain):
        row = [stage_row.task, stage_row.metric]
        for i, (value, delta) in enumerate(zip(stage_row.values, stage_row.deltas)):
            row.append(_fmt(value))
            if i > 0:
                row.append(_fmt(delta, signed=True) if delta is not None else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
           for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def stage_columns(chain: list[Checkpoint]) -> list[tuple[str, Checkpoint | None]]:
    """Each stage with the checkpoint whose results stand for it: its last evaluated one (merged over adapter)."""
    columns: dict[str, Checkpoint | None] = {}
    for c in chain:
        columns.setdefault(c.stage, None)
        if c.results:
            columns[c.stage] = c
    return list(columns.items())


def _checkpoint(store: Store, fingerprint: str, path: str | None, name: str | None, ref: ModelRef | None) -> Checkpoint:
    stored = store.get_lineage(fingerprint)
    model = store.get_model(fingerprint)
    path = path or (stored or {}).get("path") or (model or {}).get("path")
    record = record_from_store(stored) if stored else _file_record(path)
    parent = record.parent_fingerprint if record else (model or {}).get("parent_fingerprint")
    if parent is None and ref is None and path and Path(path, "adapter_config.json").is_file():
        ref = _resolve(path)
    if parent is None and ref is not None:
        parent = ref.parent_fingerprint  # an adapter's base
    name = name or (model or {}).get("name") or (Path(path).name if path else (record.parent_model if record else ""))
    return Checkpoint(fingerprint, name or fingerprint[:12], path, record, parent)


def _file_record(path: str | None) -> LineageRecord | None:
    return read_lineage(Path(path)) if path and Path(path).is_dir() else None


def _resolve(path: str) -> ModelRef | None:
    from evalkit.models.resolve import resolve_model

    try:
        return resolve_model(path)
    except UserError:
        return None  # the chain ends here; the table still shows what is known


def _parent_path(child: Checkpoint) -> str | None:
    # A merge's parent_model is the adapter folder; a training step's is the model as given.
    if child.record is not None and Path(child.record.parent_model).exists():
        return str(Path(child.record.parent_model).resolve())
    return None


def _name_stages(chain: list[Checkpoint]) -> None:
    seen: dict[str, int] = {}
    stage = "base"
    for i, c in enumerate(chain):
        kind = c.record.kind if c.record else None
        is_adapter = bool(c.path and Path(c.path, "adapter_config.json").is_file())
        if i == 0:
            c.role = "base"
        elif kind == "merge":
            c.role = "merged"
        else:  # a training step, or an adapter made outside evalkit: a new stage
            label = (c.record.method or "tuned").upper() if c.record else "tuned"
            seen[label] = seen.get(label, 0) + 1
            stage = label if seen[label] == 1 else f"{label}{seen[label]}"
            c.role = "adapter" if is_adapter or (c.record and c.record.adapter in ("lora", "qlora")) else "checkpoint"
        c.stage = stage


def _stage_names(chain: list[Checkpoint]) -> list[str]:
    merged = {c.stage for c in chain if c.role == "merged"}
    stages = list(dict.fromkeys(c.stage for c in chain))
    return [f"{s} (adapter → merged)" if s in merged else s for s in stages]


def _describe(c: Checkpoint) -> str:
    r = c.record
    if r is None:
        return "" if c.role == "base" else "no lineage record"
    if r.kind == "merge":
        return f"merge ({r.merge_mode}) of {Path(r.parent_model).name}"
    parts = [f"{r.method} {r.adapter}"]
    if r.steps is not None:
        parts.append(f"{r.steps} steps")
    if r.dataset_rows is not None:
        parts.append(f"{r.dataset_rows} rows")
    if r.final_loss is not None:
        parts.append(f"final loss {r.final_loss:.4f}")
    if r.wall_s is not None:
        parts.append(f"{r.wall_s:.0f} s")
    return ", ".join(parts)


def _values(rows: list[ResultRow]) -> dict[tuple[str, str], float]:
    return {(r.task, metric_label(r.metric, r.filter)): r.value for r in rows}


def metric_label(metric: str, filter_name: str) -> str:
    """A metric's name as tables show it: the filter is part of it only where there is one (lm-eval's
    ``"none"`` is no filter), as lm-eval's results files spell it (``pass@1,create_test``)."""
    return metric if filter_name == "none" else f"{metric},{filter_name}"


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    text = f"{value:+.4f}" if signed else f"{value:.4f}"
    return text if abs(value) < 1e5 else (f"{value:+.4g}" if signed else f"{value:.4g}")
