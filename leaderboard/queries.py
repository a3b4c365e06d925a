"""Every read the leaderboard makes from the results store: parameterized SQL only, no Streamlit.

Each function takes an open ``sqlite3.Connection`` (rows as ``sqlite3.Row``) and returns plain data
(pandas frames, lists, dicts) that the pages render. The pages call them through
:func:`evalkit.leaderboard.data.load`, which caches by store version. Values are never formatted
into SQL text: every value is a bound parameter.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def is_empty(conn: sqlite3.Connection) -> bool:
    """True when the store holds no runs, judgments or votes yet (the app then shows how to start)."""
    row = conn.execute(
        "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM judgments) + (SELECT COUNT(*) FROM votes)"
    ).fetchone()
    return int(row[0]) == 0


# -- judgments, votes, answers --

_PAIR_MODES = ("pairwise", "reference")


def judgment_filters(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Judge -> the prompt versions it judged pairs with (modes pairwise and reference), both sorted."""
    rows = conn.execute("SELECT DISTINCT judge, prompt_version FROM judgments WHERE mode IN (?, ?) "
                        "ORDER BY judge, prompt_version", _PAIR_MODES).fetchall()
    out: dict[str, list[str]] = {}
    for judge, version in rows:
        out.setdefault(str(judge), []).append(str(version))
    return out


def pair_judgments(conn: sqlite3.Connection, judge: str | None = None,
                   prompt_version: str | None = None) -> list[dict[str, Any]]:
    """Pairwise judgments (modes pairwise and reference) as records in storing order (``extra`` decoded),
    of one judge and one prompt version when given."""
    rows = conn.execute(
        "SELECT question_id, category, model_a, model_b, judge, prompt_version, mode, verdict_ab, verdict_ba, "
        "raw_ab, raw_ba, outcome, extra FROM judgments WHERE mode IN (?, ?) "
        "AND (? IS NULL OR judge = ?) AND (? IS NULL OR prompt_version = ?) ORDER BY id",
        (*_PAIR_MODES, judge, judge, prompt_version, prompt_version),
    ).fetchall()
    return [{**dict(row), "extra": json.loads(row["extra"] or "{}")} for row in rows]


def judge_votes(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """Scored judge verdicts as (question_id, model_a, model_b, outcome win|loss|tie), in storing order
    (the rows ``Store.judgment_votes`` gives ``evalkit elo --from-judgments``, with their question)."""
    rows = conn.execute("SELECT question_id, model_a, model_b, outcome FROM judgments "
                        "WHERE outcome IN ('win', 'loss', 'tie') ORDER BY rowid").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def human_votes(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """Arena votes as (question_id, model_a, model_b, choice), in the order they were cast (the rows
    ``Store.list_votes`` gives ``evalkit elo --store``, with their question)."""
    rows = conn.execute("SELECT b.question_id, b.model_a, b.model_b, v.choice FROM votes v "
                        "JOIN battles b ON b.id = v.battle_id ORDER BY v.created_at, v.id").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def answers_by_model(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """Stored contestants' answers by model: question_id, answer, second_answer (for answer lengths)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute("SELECT model, question_id, answer, second_answer FROM answers "
                            "ORDER BY model, question_id"):
        out.setdefault(row[0], []).append({"question_id": row[1], "answer": row[2], "second_answer": row[3]})
    return out


def arena_candidates(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Question id -> the models with a stored answer to it, for questions at least two models answered."""
    rows = conn.execute("SELECT question_id, model FROM answers WHERE question_id IN "
                        "(SELECT question_id FROM answers GROUP BY question_id HAVING COUNT(*) >= 2) "
                        "ORDER BY question_id, model").fetchall()
    out: dict[str, list[str]] = {}
    for question_id, model in rows:
        out.setdefault(question_id, []).append(model)
    return {q: tuple(models) for q, models in out.items()}


def battle_answers(conn: sqlite3.Connection, question_id: str, model_a: str,
                   model_b: str) -> dict[str, Any] | None:
    """What a battle shows: ``{"prompt", "second_turn", "answers": {model: (answer, second_answer)}}``,
    or ``None`` when either answer is gone."""
    rows = conn.execute("SELECT model, prompt, second_turn, answer, second_answer FROM answers "
                        "WHERE question_id = ? AND model IN (?, ?)", (question_id, model_a, model_b)).fetchall()
    if len(rows) != 2:
        return None
    return {"prompt": rows[0]["prompt"], "second_turn": rows[0]["second_turn"],
            "answers": {r["model"]: (r["answer"], r["second_answer"]) for r in rows}}


def battle_state(conn: sqlite3.Connection, battle_id: int) -> dict[str, Any] | None:
    """A stored battle's ``annotator`` and whether it has its vote (``voted``); ``None`` when no such battle."""
    row = conn.execute("SELECT b.annotator, v.id IS NOT NULL FROM battles b LEFT JOIN votes v ON v.battle_id = b.id "
                       "WHERE b.id = ?", (battle_id,)).fetchone()
    return None if row is None else {"annotator": row[0], "voted": bool(row[1])}


def votes_since(conn: sqlite3.Connection, annotator: str, since: str) -> int:
    """Votes ``annotator`` cast after ``since`` (ISO-8601 UTC text, as the store writes its times)."""
    row = conn.execute("SELECT COUNT(*) FROM votes WHERE annotator = ? AND created_at > ?", (annotator, since))
    return int(row.fetchone()[0])
