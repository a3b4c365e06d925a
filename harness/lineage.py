"""Where a checkpoint came from: ``evalkit_lineage.json`` in its folder, and the same record in the store.

INTERFACE SKELETON (filled in by its implementation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LINEAGE_FILE = "evalkit_lineage.json"


@dataclass
class LineageRecord:
    """One training or merge step that produced a checkpoint folder."""

    kind: str  # "train" or "merge"
    method: str | None  # sft | dpo (train); for a merge, the method of the adapter merged
    adapter: str | None  # none | lora | qlora
    parent_model: str  # what the step started from, as given (alias, folder, hub id)
    parent_fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)  # the full validated config (train) or merge options
    dataset_fingerprint: str | None = None
    dataset_rows: int | None = None
    steps: int | None = None
    wall_s: float | None = None
    final_loss: float | None = None
    loss_curve: list[dict[str, float]] = field(default_factory=list)  # [{"step", "loss", "learning_rate"}, ...]
    merge_mode: str | None = None  # "16-bit reload" | "dequantized 4-bit" (merge)
    versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""


def write_lineage(folder: Path, record: LineageRecord) -> None:
    raise NotImplementedError


def read_lineage(folder: Path) -> LineageRecord | None:
    raise NotImplementedError
