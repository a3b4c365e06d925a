"""What scoring produces: per-document :class:`ItemScore` and task-level :class:`Aggregate`.

An item's ``metrics`` are numbers that are aggregated and reported in results; its ``details``
are anything else worth keeping with the document (HumanEval's execution log).
Samples files keep both, details under their own ``details`` key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ItemScore:
    """The scores of one document under one filter (``none`` when the evaluator has no filters)."""

    filter: str
    filtered_resps: list[Any]
    metrics: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"filter": self.filter, "filtered_resps": self.filtered_resps, "metrics": self.metrics,
                "details": self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemScore:
        return cls(data["filter"], data["filtered_resps"], data["metrics"], data.get("details", {}))


@dataclass
class Aggregate:
    """A task-level metric: value, standard error (None where undefined) and items used."""

    value: float
    stderr: float | None
    n: int


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a float, or None when it is missing, NaN or infinite (a standard error reported as N/A)."""
    return None if x is None or not math.isfinite(x) else float(x)
