"""Where a checkpoint came from: ``evalkit_lineage.json`` in its folder, and the same record in the store.

``evalkit train`` and ``evalkit merge`` each end with :func:`write_lineage` (the folder carries its
own history wherever it is copied) and :func:`record_in_store` (the store can walk the chain and
join it to evaluation runs: see :mod:`evalkit.harness.lineage_table`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.store import Store

LINEAGE_FILE = "evalkit_lineage.json"
LINEAGE_VERSION = 1
# The libraries whose versions decide what a training or merge step produced.
VERSIONED_LIBRARIES = ("evalkit", "torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes", "datasets")
# Record fields the store has no column for travel inside its ``config`` JSON under these keys.
_IN_STORED_CONFIG = {"dropped_rows": "_dropped_rows"}


@dataclass
class LineageRecord:
    """One training or merge step that produced a checkpoint folder."""

    kind: str  # "train" or "merge": the step that made the folder
    method: str | None  # sft | dpo | reward | grpo | rloo (train); for a merge, the method of the adapter merged
    adapter: str | None  # none | lora | qlora
    parent_model: str  # what the step started from, as given (alias, folder, hub id)
    parent_fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)  # the full validated config (train) or merge options
    dataset_fingerprint: str | None = None
    dataset_rows: int | None = None
    # Rows read but not trained on, by reason: "filter" (dataset.filter), "too_long" (reward pairs over
    # max_length, which TRL's RewardTrainer leaves out), "too_long_eval" (the same in the eval split).
    dropped_rows: dict[str, int] = field(default_factory=dict)
    steps: int | None = None
    wall_s: float | None = None
    final_loss: float | None = None
    loss_curve: list[dict[str, float]] = field(default_factory=list)  # [{"step", "loss", "learning_rate"}, ...]
    merge_mode: str | None = None  # "16-bit reload" | "dequantized 4-bit" (merge)
    versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""


def library_versions() -> dict[str, str]:
    """The installed versions of :data:`VERSIONED_LIBRARIES` (absent ones are left out)."""
    from evalkit.versions import installed_versions

    return installed_versions(VERSIONED_LIBRARIES)


def write_lineage(folder: Path, record: LineageRecord) -> None:
    """Write ``record`` to ``folder/evalkit_lineage.json`` (atomically).

    An empty ``created_at`` is set to now on ``record`` itself, so that the store, given the same
    record next, holds the same time. The file is not one of the fingerprinted files: writing it
    leaves the checkpoint's fingerprint as it was.
    """
    from evalkit.report import write_json_atomic

    if not record.created_at:
        record.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    write_json_atomic(Path(folder) / LINEAGE_FILE, {"lineage_version": LINEAGE_VERSION, **asdict(record)})


def read_lineage(folder: Path) -> LineageRecord | None:
    """The record in ``folder/evalkit_lineage.json``; ``None`` when the folder has none.

    A file that is not a lineage record is a :class:`UserError` naming it (it would otherwise
    break the chain without a word).
    """
    path = Path(folder) / LINEAGE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(LineageRecord)}
        # Fields a newer evalkit added are ignored rather than refused: the chain still reads.
        return LineageRecord(**{k: v for k, v in data.items() if k in known})
    except (ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{path}: not an evalkit lineage record ({exc})") from None


def record_from_store(row: dict[str, Any]) -> LineageRecord:
    """A store row (:meth:`Store.get_lineage`) as a :class:`LineageRecord`."""
    known = {f.name for f in fields(LineageRecord)}
    values = {k: v for k, v in row.items() if k in known}
    config = dict(values.get("config") or {})
    for name, key in _IN_STORED_CONFIG.items():
        if key in config:
            values[name] = config.pop(key)
    values["config"] = config
    return LineageRecord(**values)


def record_in_store(store: Store | Path, folder: Path, record: LineageRecord, *, name: str | None = None) -> str:
    """Record the checkpoint in ``folder`` in the store, with its parent and ``record``; return its fingerprint.

    The fingerprint is the one ``evalkit run`` records its runs under (``resolve_model(folder)``),
    so evaluation results join the chain. ``store`` is an open :class:`Store` or a store path.
    """
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store

    ref = resolve_model(str(folder))
    if not isinstance(store, Store):
        with Store(store) as opened:
            return record_in_store(opened, folder, record, name=name)
    path = str(Path(folder).resolve())
    store.upsert_model(ref.fingerprint, name or ref.name, path, record.parent_fingerprint,
                       {**ref.metadata(), "lineage": record.kind})
    store.put_lineage(ref.fingerprint, path, _store_row(record))
    return ref.fingerprint



def _store_row(record: LineageRecord) -> dict[str, Any]:
    row = asdict(record)
    config = dict(row["config"] or {})
    for name, key in _IN_STORED_CONFIG.items():
        value = row.pop(name)
        if value:
            config[key] = value
    row["config"] = config
    return row
