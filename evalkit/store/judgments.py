"""The judgments table (migration 0004) and the contestants' answers (0006): :class:`~evalkit.store.Store`'s
methods for what ``evalkit judge`` records.

Kept beside ``store.py`` as a mixin so the table's columns and queries read in one place. Rows are
plain dicts (the store does not import the judge package); ``evalkit.judge.records`` converts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from evalkit.store.backend import Connection

T = TypeVar("T")

JUDGMENT_COLUMNS = ("question_id", "category", "model_a", "model_b", "judge", "prompt_version", "mode",
                    "verdict_ab", "verdict_ba", "raw_ab", "raw_ba", "outcome", "rating", "extra")
_REQUIRED = ("question_id", "model_a", "judge", "prompt_version", "mode", "verdict_ab", "raw_ab", "outcome")
_FILTERS = ("model_a", "model_b", "judge", "prompt_version", "mode")


class JudgmentsTable:
    """Methods on the judgments table; :class:`~evalkit.store.store.Store` provides the transactions."""

    def _write(self, work: Callable[[Connection], T]) -> T:  # pragma: no cover - Store's
        raise NotImplementedError

    def _read(self, work: Callable[[Connection], T]) -> T:  # pragma: no cover - Store's
        raise NotImplementedError

    def put_judgments(self, records: list[dict[str, Any]]) -> None:
        """Store ``records`` in one transaction; a record with the same (question_id, model_a, model_b,
        judge, prompt_version, mode) as a stored one replaces it (a rerun never duplicates).

        Keys are :data:`JUDGMENT_COLUMNS` (``extra`` a JSON-serialisable dict); missing optional ones
        are stored empty. Unknown or missing required keys raise ``ValueError`` before anything is written.
        """
        if not records:
            return
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        params = []
        for record in records:
            unknown = set(record) - set(JUDGMENT_COLUMNS) - {"created_at"}
            missing = [key for key in _REQUIRED if record.get(key) is None]
            if unknown or missing:
                problem = f"unknown fields {sorted(unknown)}" if unknown else f"missing fields {missing}"
                raise ValueError(f"judgment record of question {record.get('question_id')!r}: {problem}")
            row = {column: record.get(column) for column in JUDGMENT_COLUMNS}
            row.update(model_b=row["model_b"] or "", verdict_ba=row["verdict_ba"] or "", raw_ba=row["raw_ba"] or "",
                       extra=json.dumps(row["extra"] or {}, ensure_ascii=False, sort_keys=True),
                       created_at=record.get("created_at") or now)
            params.append(row)
        columns = ("created_at", *JUDGMENT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in _FILTERS and c != "question_id")
        sql = (f"INSERT INTO judgments ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
               f"ON CONFLICT (question_id, model_a, model_b, judge, prompt_version, mode) DO UPDATE SET {updates}")
        self._write(lambda c: c.executemany(sql, params))

    def get_judgments(self, **where: str) -> list[dict[str, Any]]:
        """Stored judgments (``extra`` decoded) in insertion order, filtered by equality on any of
        model_a, model_b, judge, prompt_version, mode (``ValueError`` for another key)."""
        unknown = set(where) - set(_FILTERS)
        if unknown:
            raise ValueError(f"cannot filter judgments by {sorted(unknown)} (known: {', '.join(_FILTERS)})")
        clause = " AND ".join(f"{key} = :{key}" for key in where) or "TRUE"
        rows = self._read(lambda c: c.execute(f"SELECT * FROM judgments WHERE {clause} ORDER BY id", where)
                          .fetchall())
        out = []
        for row in rows:
            record = dict(row)
            record["extra"] = json.loads(record["extra"])
            out.append(record)
        return out

    # -- answers (migration 0006): what the contestants said; the arena shows them to people ----------

    _ANSWER_COLUMNS = ("model", "question_id", "category", "prompt", "answer", "second_turn", "second_answer",
                       "source")

    def put_answers(self, records: list[dict[str, Any]]) -> None:
        """Store answer ``records`` (keys :attr:`_ANSWER_COLUMNS`; ``source`` 'generated' or 'file') in one
        transaction; a record for a stored (model, question_id) replaces it."""
        if not records:
            return
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        params = []
        for record in records:
            unknown = set(record) - set(self._ANSWER_COLUMNS)
            if unknown:
                raise ValueError(f"answer record of question {record.get('question_id')!r}: unknown fields "
                                 f"{sorted(unknown)}")
            params.append({**{c: record.get(c) for c in self._ANSWER_COLUMNS}, "created_at": now})
        columns = (*self._ANSWER_COLUMNS, "created_at")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("model", "question_id"))
        self._write(lambda c: c.executemany(
            f"INSERT INTO answers ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
            f"ON CONFLICT (model, question_id) DO UPDATE SET {updates}",
            params))

    def get_answers(self, model: str | None = None) -> list[dict[str, Any]]:
        """Stored answers (of ``model`` only, when given), ordered by model and question id."""
        if model is None:
            return self._read(lambda c: [dict(r) for r in c.execute(
                "SELECT * FROM answers ORDER BY model, question_id").fetchall()])
        return self._read(lambda c: [dict(r) for r in c.execute(
            "SELECT * FROM answers WHERE model = :model ORDER BY question_id", {"model": model}).fetchall()])
