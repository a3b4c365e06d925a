"""Metrics from the Hugging Face ``evaluate`` library, named in a task file as ``metric: evaluate:PATH``.

PATH is a local metric script (``my_metric.py``) or a folder holding one, relative to the task file
that names it; it is never a hub name, so nothing is fetched at run time. Loading it runs its Python,
so it needs ``--allow-task-code``, like any other code in a task file. Each document is scored with
``compute(references=[gold], predictions=[response], **options)`` as lm-eval scores its HF metrics;
a dict result contributes each of its keys, aggregated by ``mean`` unless the entry says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "evaluate:"

#: Scores one document: (gold, response, options) -> {metric name: value}.
ItemMetric = Callable[[Any, Any, dict[str, Any]], dict[str, Any]]


def is_evaluate_metric(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def metric_path(name: str, base_dir: Path) -> Path:
    """The local file or folder an ``evaluate:PATH`` name points at (relative to the task file's folder)."""
    path = Path(name[len(PREFIX):]).expanduser()
    return path if path.is_absolute() else base_dir / path


def load(path: Path, name: str) -> ItemMetric:
    """The metric at ``path`` as a per-document scorer (imports ``evaluate`` and runs the module's code)."""
    import evaluate

    module = evaluate.load(str(path))
    short = name[len(PREFIX):]

    def score(gold: Any, response: Any, options: dict[str, Any]) -> dict[str, Any]:
        out = module.compute(references=[gold], predictions=[response], **options)
        return dict(out) if isinstance(out, dict) else {short: out}

    return score
