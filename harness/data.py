"""Training rows: load, map columns, filter, shuffle, select, split; check the format fits the method.

INTERFACE SKELETON (filled in by its implementation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datasets import Dataset

    from evalkit.harness.config import TrainConfig

RowFormat = Literal["messages", "prompt_completion", "text", "preference"]


@dataclass(frozen=True)
class PreparedRows:
    """Rows in one of TRL's dataset formats, ready for its trainers."""

    train: Dataset
    eval: Dataset | None
    format: RowFormat
    fingerprint: str  # sha256 over the source files (or hub id + revision) and the preparation settings
    rows: int  # training rows after filter/select


def prepare_rows(config: TrainConfig, base_dir: Path) -> PreparedRows:
    """Rows for ``config`` (paths relative to ``base_dir``); a wrong column or a format that does not fit
    the method raises :class:`~evalkit.errors.UserError` naming the file, the row and the column, before
    any model loads."""
    raise NotImplementedError
