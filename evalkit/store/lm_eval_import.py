"""Import an lm-evaluation-harness results file (``lm_eval --output_path ...``) into the store.

The file's ``results`` (and ``groups``) map each task to keys ``"metric,filter"`` with values,
``"metric_stderr,filter"`` with standard errors (``"N/A"`` when none) and bookkeeping keys
(``alias``, ``name``, ``sample_len``, ``sample_count``); ``n-samples`` gives per-task document
counts and ``config`` the model and run settings.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.store.records import ResultRow
from evalkit.store.store import Store

SUITE = "lm-eval"
RUN_ID_PREFIX = "lm-eval-"
FINGERPRINT_PREFIX = "lm-eval:"
_EXPECTED = "expected an lm-evaluation-harness results JSON file"
# The model_args keys lm-eval itself consults for a model name, in its order of preference
# (an adapter or delta names the evaluated model better than its base).
_MODEL_ARG_KEYS = ("peft", "delta", "pretrained", "model", "path", "engine")
# Top-level keys kept with the run's config so the import stays traceable to what produced it.
_PROVENANCE_KEYS = ("lm_eval_version", "git_hash", "versions", "n-shot", "group_subtasks", "model_source")


def import_lm_eval_results(store: Store, path: str | Path) -> str:
    """Store the lm-eval results file at ``path`` as an ``imported`` run and return its run id.

    The run id derives from the file's SHA-256, so importing the same file again rewrites the
    same run instead of adding one. The model, known only by name, gets the fingerprint
    ``lm-eval:<sha256 of the name>``. Raises ``UserError`` (``PATH: expected ...``) before
    writing anything when the file is unreadable, not JSON or has no usable ``results``.
    """
    path = Path(path)
    raw, document = _read(path)
    rows = parse_results(document, path)
    model_name = model_name_of(document, path)
    file_sha = hashlib.sha256(raw).hexdigest()
    run_id = RUN_ID_PREFIX + file_sha[:16]
    fingerprint = FINGERPRINT_PREFIX + hashlib.sha256(model_name.encode("utf-8")).hexdigest()
    config = _mapping_at(document, "config")
    started_at, finished_at, timing = _times(document)

    store.upsert_model(fingerprint, model_name, None, metadata=_model_metadata(config))
    run_config = {
        **config,
        "lm_eval": {
            "source_path": str(path.resolve()),
            **{key: document[key] for key in _PROVENANCE_KEYS if key in document},
        },
    }
    try:
        store.create_run(
            run_id,
            SUITE,
            file_sha,
            fingerprint,
            model_name,
            run_config,
            str(path.resolve().parent),
            status="imported",
            started_at=started_at,
        )
    except ValueError:
        # Already imported (possibly only partly, if that import was interrupted): the result
        # upserts below complete it without duplicating anything.
        pass
    store.add_results(run_id, rows)
    store.finish_run(run_id, "imported", timing, finished_at=finished_at)
    return run_id


def _read(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: {_EXPECTED} (cannot read it: {error.strerror or error})") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: {_EXPECTED} (it is not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}: {_EXPECTED} (invalid JSON at line {error.lineno} column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise UserError(f"{path}: {_EXPECTED} with a 'results' object mapping each task to its metrics")
    return raw, document


def _number(value: Any) -> float | None:
    # bool is an int subclass but never a metric value; strings such as "N/A" mean "no value".
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def parse_results(document: dict[str, Any], path: Path) -> list[ResultRow]:
    """Return one :class:`ResultRow` per ``"metric,filter"`` value of every task and group.

    Raises ``UserError`` when a task's entry is not an object or no value is found at all.
    """
    tasks: dict[str, Any] = dict(document["results"])
    groups = document.get("groups")
    if isinstance(groups, dict):
        # lm-eval repeats aggregated groups inside "results"; older files may have them only here.
        for name, metrics in groups.items():
            tasks.setdefault(name, metrics)
    n_samples = _mapping_at(document, "n-samples")

    rows: list[ResultRow] = []
    for task, metrics in tasks.items():
        if not isinstance(metrics, dict):
            raise UserError(f"{path}: expected results[{task!r}] to be an object of 'metric,filter' keys")
        for key, raw_value in metrics.items():
            metric, comma, filter_name = key.partition(",")
            if not comma or metric.endswith("_stderr"):
                continue  # bookkeeping (alias, name, sample_len, ...) or a stderr paired below
            value = _number(raw_value)
            if value is None:
                continue
            stderr = _number(metrics.get(f"{metric}_stderr,{filter_name}"))
            if stderr is not None and math.isnan(stderr):
                stderr = None
            rows.append(
                ResultRow(task, metric, filter_name, value, stderr, _count(task, key, metrics, n_samples))
            )
    if not rows:
        raise UserError(f"{path}: expected at least one numeric 'metric,filter' value under 'results'")
    return rows


def _count(task: str, key: str, metrics: dict[str, Any], n_samples: dict[str, Any]) -> int:
    # n-samples is lm-eval's authoritative per-task count; groups are absent from it, and for
    # them the per-metric sample_count or the summed sample_len is the best number available.
    entry = n_samples.get(task)
    candidates = [
        entry.get("effective") if isinstance(entry, dict) else None,
        metrics.get("sample_count", {}).get(key) if isinstance(metrics.get("sample_count"), dict) else None,
        metrics.get("sample_len"),
    ]
    for candidate in candidates:
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
    return 0


def _mapping_at(document: dict[str, Any], key: str) -> dict[str, Any]:
    """``document[key]``, or an empty mapping where it is missing or not a mapping."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def model_name_of(document: dict[str, Any], path: Path) -> str:
    """Return the evaluated model's name: ``model_name``, else the ``pretrained=``-style entry of
    ``config.model_args``, else ``config.model``. Raises ``UserError`` when none is present.
    """
    name = document.get("model_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    config = _mapping_at(document, "config")
    from_args = _name_from_model_args(config.get("model_args"))
    if from_args:
        return from_args
    model = config.get("model")
    if isinstance(model, str) and model.strip():
        return model.strip()
    raise UserError(f"{path}: expected a model name in 'model_name' or 'config.model_args'")


def _name_from_model_args(model_args: Any) -> str | None:
    if isinstance(model_args, str):
        pairs = dict(part.split("=", 1) for part in (p.strip() for p in model_args.split(",")) if "=" in part)
    elif isinstance(model_args, dict):
        pairs = model_args
    else:
        return None
    for key in _MODEL_ARG_KEYS:
        value = pairs.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _model_metadata(config: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "model_args", "model_num_parameters", "model_dtype", "model_revision", "model_sha")
    return {"source": SUITE, **{key: config[key] for key in keys if key in config}}


def _times(document: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    """Return (started_at, finished_at, timing) from lm-eval's ``date`` (a UNIX timestamp) and
    ``total_evaluation_time_seconds`` (a string); ``None``/empty when the file lacks them.
    """
    started: datetime | None = None
    date = document.get("date")
    try:
        started = datetime.fromtimestamp(float(date), tz=UTC) if date is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        started = None
    timing: dict[str, Any] = {}
    try:
        total = float(document["total_evaluation_time_seconds"])
        if math.isfinite(total) and total >= 0:
            timing["total_evaluation_time_seconds"] = total
    except (KeyError, TypeError, ValueError):
        pass
    finished = started
    if started is not None and "total_evaluation_time_seconds" in timing:
        finished = started + timedelta(seconds=timing["total_evaluation_time_seconds"])

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat(timespec="microseconds")

    return text(started), text(finished), timing
