"""Every read the leaderboard makes from the results store: parameterized SQL only, no Streamlit.

Each function takes a :class:`Reader` (one snapshot of the store, SQLite or PostgreSQL) and returns
plain data (pandas frames, lists, dicts) that the pages render. The pages call them through
:func:`evalkit.leaderboard.data.load`, which caches by store version; :func:`read` runs one on a
:class:`~evalkit.store.Store`. Values are never formatted into SQL text: every value is a bound
``:name`` parameter. The one expression the backends spell differently (a number inside a JSON
column) comes from :meth:`Reader.json_number`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from evalkit.leaderboard import results_view
from evalkit.store import Store

if TYPE_CHECKING:
    from evalkit.harness.lineage_table import StageRow
    from evalkit.store.backend import Connection

T = TypeVar("T")


@dataclass(frozen=True)
class Reader:
    """What a query reads through: a snapshot's connection and the store it belongs to."""

    conn: Connection
    store: Store

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The rows of ``sql`` (each readable as ``row[0]``, ``row["column"]`` and ``dict(row)``)."""
        return self.conn.execute(sql, dict(params or {})).fetchall()

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.conn.execute(sql, dict(params or {})).fetchone()

    def frame(self, sql: str, params: Mapping[str, Any] | None = None,
              dtype: Mapping[str, str] | None = None) -> pd.DataFrame:
        """``sql``'s rows as a frame, as ``pandas.read_sql_query`` builds it (columns kept when empty)."""
        cursor = self.conn.execute(sql, dict(params or {}))
        columns = [d[0] for d in cursor.description]
        frame = pd.DataFrame.from_records([tuple(r) for r in cursor.fetchall()], columns=columns, coerce_float=True)
        return frame.astype(dict(dtype)) if dtype else frame

    def json_number(self, column: str, key_param: str) -> str:
        """SQL for the number under the top-level key (bound as ``:key_param``) of JSON text ``column``
        (true/false as 1/0; NULL when absent or not a number)."""
        if self.store.dialect == "postgresql":
            value = f"CAST({column} AS jsonb) -> CAST(:{key_param} AS text)"
            return (f"(CASE jsonb_typeof({value}) WHEN 'number' THEN CAST({value} #>> '{{}}' AS double precision) "
                    f"WHEN 'boolean' THEN CASE WHEN CAST({value} #>> '{{}}' AS boolean) THEN 1.0 ELSE 0.0 END END)")
        # SQLite's JSON path, the key quoted: metric names such as "pass@1" are not plain identifiers.
        return f"json_extract({column}, '$.\"' || replace(:{key_param}, '\"', '\\\"') || '\"')"


def read(store: Store, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``query(reader, *args, **kwargs)`` on one snapshot of ``store``."""
    return store.snapshot(lambda conn: query(Reader(conn, store), *args, **kwargs))


def is_empty(conn: Reader) -> bool:
    """True when the store holds no runs, judgments or votes yet (the app then shows how to start)."""
    row = conn.one(
        "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM judgments) + (SELECT COUNT(*) FROM votes)"
    )
    return int(row[0]) == 0


# -- results, models, samples, lineage --

#: Run statuses whose results the leaderboard shows: evalkit's own finished runs and lm-eval imports.
SHOWN_STATUSES = ("finished", "imported")

# The latest shown run of each (model name, suite): a model's row holds what it scored last on each suite.
_LATEST_RUNS = """
    SELECT run_id, model_name, model_fingerprint, suite, status, finished_at, config FROM (
        SELECT r.*, ROW_NUMBER() OVER (
            PARTITION BY r.model_name, r.suite ORDER BY r.finished_at DESC, r.rowid DESC) AS newest
        FROM runs AS r WHERE r.status IN (:finished, :imported)
    ) AS ranked WHERE newest = 1
"""
_SHOWN = {"finished": SHOWN_STATUSES[0], "imported": SHOWN_STATUSES[1]}


def leaderboard_results(conn: Reader) -> pd.DataFrame:
    """Every result of each model's latest finished or imported run per suite, one row per
    (model, suite, task, metric, filter): model, fingerprint, suite, run_id, status, finished_at, task,
    metric, filter, value (NaN where a NaN was stored), stderr (NaN: unknown), n. One query for all models."""
    return conn.frame(
        f"""
        WITH latest AS ({_LATEST_RUNS})
        SELECT l.model_name AS model, l.model_fingerprint AS fingerprint, l.suite, l.run_id, l.status,
               l.finished_at, x.task, x.metric, x.filter, x.value, x.stderr, x.n
        FROM latest AS l JOIN results AS x ON x.run_id = l.run_id
        ORDER BY l.model_name, x.task, x.metric, x.filter
        """,
        _SHOWN, dtype={"value": "float64", "stderr": "float64"},
    )


def model_details(conn: Reader) -> pd.DataFrame:
    """What the leaderboard says about each model with a shown run, one row per model name: the
    fingerprint of its latest run, its parameter count when known (lm-eval's ``model_num_parameters``,
    from the model's metadata or the run's config), its parent's name, how the lineage step that made
    it was done (kind train|merge, method), for a merge the name of the model the merged adapter was
    trained from, the last run's time and whether any shown run is an lm-eval import."""
    return conn.frame(
        f"""
        WITH latest AS ({_LATEST_RUNS}),
        newest AS (
            SELECT model_name, model_fingerprint, config, finished_at FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY model_name ORDER BY finished_at DESC) AS k FROM latest
            ) AS ranked_models WHERE k = 1
        ),
        per_model AS (
            SELECT model_name, MAX(finished_at) AS last_run,
                   MAX(CASE WHEN status = 'imported' THEN 1 ELSE 0 END) AS imported
            FROM latest GROUP BY model_name
        )
        SELECT n.model_name AS model, n.model_fingerprint AS fingerprint,
               COALESCE({conn.json_number("m.metadata", "parameters_key")},
                        {conn.json_number("n.config", "parameters_key")}) AS parameters,
               COALESCE(p.name, l.parent_model) AS parent, l.kind AS lineage_kind, l.method AS lineage_method,
               COALESCE(gp.name, al.parent_model) AS adapter_parent,
               pm.last_run, pm.imported
        FROM newest AS n
        JOIN per_model AS pm ON pm.model_name = n.model_name
        LEFT JOIN models AS m ON m.fingerprint = n.model_fingerprint
        LEFT JOIN models AS p ON p.fingerprint = m.parent_fingerprint
        LEFT JOIN lineage AS l ON l.fingerprint = n.model_fingerprint
        LEFT JOIN lineage AS al ON al.fingerprint = l.parent_fingerprint AND l.kind = 'merge'
        LEFT JOIN models AS gp ON gp.fingerprint = al.parent_fingerprint
        ORDER BY n.model_name
        """,
        {**_SHOWN, "parameters_key": "model_num_parameters"},
    ).astype({"imported": "bool"})


def model_results(conn: Reader, model: str) -> pd.DataFrame:
    """The model's results as :func:`leaderboard_results` has them (its latest shown run per suite)."""
    frame = leaderboard_results(conn)
    return frame[frame["model"] == model].reset_index(drop=True)


def lineage_chain(conn: Reader, fingerprint: str) -> tuple[list[str], list[StageRow], list[str]]:
    """The chain base → SFT → DPO down to ``fingerprint``, walked by the same code as
    ``evalkit models lineage`` (:mod:`evalkit.harness.lineage_table`): the chain's
    ``stage: role name`` lines, the per-stage values with deltas against the parent stage, and the
    stage column names."""
    from evalkit.harness.lineage_table import build_chain_from_store, stage_columns, stage_rows

    # That code reads through a Store of its own (this reader's is inside a snapshot); the store is
    # migrated already (data.open_store), so opening another on it only reads.
    with Store(conn.store.spec) as store:
        chain = build_chain_from_store(store, fingerprint)
    described = [f"{c.stage}: {c.role} {c.name}" for c in chain]
    return described, stage_rows(chain), [stage for stage, _ in stage_columns(chain)]


def loss_curve(conn: Reader, fingerprint: str) -> pd.DataFrame:
    """The training loss curve (step, loss, learning_rate) of the checkpoint ``fingerprint``: its own
    for a training step, the curve of the adapter it was merged from for a merge; empty otherwise."""
    row = conn.one(
        """
        SELECT CASE WHEN l.kind = 'merge' THEN a.loss_curve ELSE l.loss_curve END
        FROM lineage AS l LEFT JOIN lineage AS a ON a.fingerprint = l.parent_fingerprint
        WHERE l.fingerprint = :fingerprint
        """,
        {"fingerprint": fingerprint},
    )
    points = json.loads(row[0]) if row is not None and row[0] else []
    return pd.DataFrame(points, columns=["step", "loss", "learning_rate"])


def sample_runs(conn: Reader) -> pd.DataFrame:
    """Every (run, task) with stored samples: run_id, model, suite, status, finished_at, task, n (documents
    × filters), newest run first."""
    return conn.frame(
        """
        SELECT r.run_id, r.model_name AS model, r.suite, r.status, r.finished_at, s.task, s.n
        FROM (SELECT run_id, task, COUNT(*) AS n FROM samples GROUP BY run_id, task) AS s
        JOIN runs AS r ON r.run_id = s.run_id
        ORDER BY r.started_at DESC, r.rowid DESC, s.task
        """,
    )


def sample_metric_names(conn: Reader, run_id: str, task: str) -> list[str]:
    """The metrics recorded per item in ``task`` of ``run_id`` whose first stored value is a score
    in [0, 1] (accuracy-like: what "failures" can be defined on), read from the first record."""
    row = conn.one("SELECT record FROM samples WHERE run_id = :run_id AND task = :task ORDER BY doc_id, filter "
                   "LIMIT 1", {"run_id": run_id, "task": task})
    if row is None:
        return []
    return results_view.unit_score_metrics(json.loads(row[0]))


def samples_count(conn: Reader, run_id: str, task: str, *, failing_on: str | None = None) -> int:
    """How many of ``task``'s stored records in ``run_id`` :func:`samples_page` pages through."""
    where, params = _samples_where(conn, run_id, task, failing_on)
    return int(conn.one(f"SELECT COUNT(*) FROM samples WHERE {where}", params)[0])


def samples_page(conn: Reader, run_id: str, task: str, *, failing_on: str | None = None,
                 offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
    """One page of ``task``'s stored records in ``run_id``, ordered by doc_id, filter. With ``failing_on``
    a metric name, only failures: records whose value of that metric is below 1 (a wrong answer, a
    failed test; see :func:`sample_metric_names`)."""
    where, params = _samples_where(conn, run_id, task, failing_on)
    rows = conn.rows(f"SELECT record FROM samples WHERE {where} ORDER BY doc_id, filter LIMIT :limit OFFSET :offset",
                     {**params, "limit": limit, "offset": offset})
    return [json.loads(r[0]) for r in rows]


def _samples_where(conn: Reader, run_id: str, task: str, failing_on: str | None) -> tuple[str, dict[str, Any]]:
    # Only fixed SQL text here; the run, task and the metric's name are bound parameters.
    params: dict[str, Any] = {"run_id": run_id, "task": task}
    if failing_on is None:
        return "run_id = :run_id AND task = :task", params
    return (f"run_id = :run_id AND task = :task AND {conn.json_number('record', 'metric')} < 1",
            {**params, "metric": failing_on})


def samples_for_docs(conn: Reader, run_id: str, task: str,
                     doc_ids: tuple[int | str, ...]) -> list[dict[str, Any]]:
    """The stored records of ``task`` in ``run_id`` for those ``doc_ids`` (a second model's answers to
    the items on screen), ordered by doc_id, filter."""
    records: list[dict[str, Any]] = []
    for start in range(0, len(doc_ids), 500):  # below SQLite's bound-variable limit
        chunk = doc_ids[start:start + 500]
        marks = ",".join(f":d{i}" for i in range(len(chunk)))
        rows = conn.rows(f"SELECT record FROM samples WHERE run_id = :run_id AND task = :task AND doc_id IN ({marks}) "
                         "ORDER BY doc_id, filter",
                         {"run_id": run_id, "task": task,
                          **{f"d{i}": conn.store.doc_id(d) for i, d in enumerate(chunk)}})
        records += [json.loads(r[0]) for r in rows]
    return records

# -- judgments, votes, answers --

_PAIR_MODES = {"pairwise": "pairwise", "reference": "reference"}
_PAIR_WHERE = "mode IN (:pairwise, :reference)"


def judgment_filters(conn: Reader) -> dict[str, list[str]]:
    """Judge -> the prompt versions it judged pairs with (modes pairwise and reference), both sorted."""
    rows = conn.rows(f"SELECT DISTINCT judge, prompt_version FROM judgments WHERE {_PAIR_WHERE} "
                     "ORDER BY judge, prompt_version", _PAIR_MODES)
    out: dict[str, list[str]] = {}
    for judge, version in rows:
        out.setdefault(str(judge), []).append(str(version))
    return out


def pair_judgments(conn: Reader, judge: str | None = None,
                   prompt_version: str | None = None) -> list[dict[str, Any]]:
    """Pairwise judgments (modes pairwise and reference) as records in storing order (``extra`` decoded),
    of one judge and one prompt version when given."""
    # Conditions only for given values: PostgreSQL cannot type a parameter compared only with NULL.
    wanted = {key: value for key, value in (("judge", judge), ("prompt_version", prompt_version))
              if value is not None}
    rows = conn.rows(
        "SELECT question_id, category, model_a, model_b, judge, prompt_version, mode, verdict_ab, verdict_ba, "
        f"raw_ab, raw_ba, outcome, extra FROM judgments WHERE {_PAIR_WHERE} "
        + "".join(f"AND {key} = :{key} " for key in wanted) + "ORDER BY id",
        {**_PAIR_MODES, **wanted},
    )
    return [{**dict(row), "extra": json.loads(row["extra"] or "{}")} for row in rows]


def pair_verdicts(conn: Reader) -> list[dict[str, str]]:
    """Every pairwise judgment (modes pairwise and reference), unscored ones too, in storing order, as records
    without the judges' text: judge, prompt_version, question_id, model_a, model_b, verdict_ab, verdict_ba,
    outcome (what the agreement with people is computed from)."""
    rows = conn.rows("SELECT judge, prompt_version, question_id, model_a, model_b, verdict_ab, verdict_ba, outcome "
                     f"FROM judgments WHERE {_PAIR_WHERE} ORDER BY id", _PAIR_MODES)
    return [dict(row) for row in rows]


def judge_votes(conn: Reader) -> list[tuple[str, str, str, str]]:
    """Scored judge verdicts as (question_id, model_a, model_b, outcome win|loss|tie), in storing order
    (the rows ``Store.judgment_votes`` gives ``evalkit elo --from-judgments``, with their question)."""
    rows = conn.rows("SELECT question_id, model_a, model_b, outcome FROM judgments "
                     "WHERE outcome IN ('win', 'loss', 'tie') ORDER BY id")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def human_votes(conn: Reader) -> list[tuple[str, str, str, str]]:
    """Arena votes as (question_id, model_a, model_b, choice), in the order they were cast (the rows
    ``Store.list_votes`` gives ``evalkit elo --store``, with their question)."""
    rows = conn.rows("SELECT b.question_id, b.model_a, b.model_b, v.choice FROM votes v "
                     "JOIN battles b ON b.id = v.battle_id ORDER BY v.created_at, v.id")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def answers_by_model(conn: Reader) -> dict[str, list[dict[str, Any]]]:
    """Stored contestants' answers by model: question_id, answer, second_answer (for answer lengths)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in conn.rows("SELECT model, question_id, answer, second_answer FROM answers ORDER BY model, question_id"):
        out.setdefault(row[0], []).append({"question_id": row[1], "answer": row[2], "second_answer": row[3]})
    return out


def arena_candidates(conn: Reader) -> dict[str, tuple[str, ...]]:
    """Question id -> the models with a stored answer to it, for questions at least two models answered."""
    rows = conn.rows("SELECT question_id, model FROM answers WHERE question_id IN "
                     "(SELECT question_id FROM answers GROUP BY question_id HAVING COUNT(*) >= 2) "
                     "ORDER BY question_id, model")
    out: dict[str, list[str]] = {}
    for question_id, model in rows:
        out.setdefault(question_id, []).append(model)
    return {q: tuple(models) for q, models in out.items()}


def battle_answers(conn: Reader, question_id: str, model_a: str,
                   model_b: str) -> dict[str, Any] | None:
    """What a battle shows: ``{"prompt", "second_turn", "answers": {model: (answer, second_answer)}}``,
    or ``None`` when either answer is gone."""
    rows = conn.rows("SELECT model, prompt, second_turn, answer, second_answer FROM answers "
                     "WHERE question_id = :question_id AND model IN (:a, :b)",
                     {"question_id": question_id, "a": model_a, "b": model_b})
    if len(rows) != 2:
        return None
    return {"prompt": rows[0]["prompt"], "second_turn": rows[0]["second_turn"],
            "answers": {r["model"]: (r["answer"], r["second_answer"]) for r in rows}}


def battle_state(conn: Reader, battle_id: int) -> dict[str, Any] | None:
    """A stored battle's ``annotator`` and whether it has its vote (``voted``); ``None`` when no such battle."""
    row = conn.one("SELECT b.annotator, v.id IS NOT NULL FROM battles b LEFT JOIN votes v ON v.battle_id = b.id "
                   "WHERE b.id = :id", {"id": battle_id})
    return None if row is None else {"annotator": row[0], "voted": bool(row[1])}
