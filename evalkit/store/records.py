"""Typed rows that the results store hands out and accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Every status a run can have; ``running`` until :meth:`Store.finish_run` records the outcome.
RUN_STATUSES: Final = frozenset({"running", "finished", "failed", "imported"})
#: The statuses :meth:`Store.finish_run` accepts.
FINAL_STATUSES: Final = frozenset({"finished", "failed", "imported"})


@dataclass(frozen=True)
class ResultRow:
    """One aggregated metric of one task in a run.

    ``filter`` is the answer-extraction filter the metric was computed after (lm-eval's
    ``"none"`` when there is none); ``stderr`` is ``None`` when no standard error is known;
    ``n`` is the number of documents the value was computed over (0 when unknown).
    """

    task: str
    metric: str
    filter: str
    value: float
    stderr: float | None
    n: int


@dataclass(frozen=True)
class RunSummary:
    """One line of :meth:`Store.list_runs`: who ran what, when, how it ended, and how many results."""

    run_id: str
    suite: str
    model_name: str
    model_fingerprint: str
    status: str
    started_at: str
    finished_at: str | None
    n_results: int
