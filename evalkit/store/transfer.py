"""Copying everything one results store holds into another (``evalkit store export|merge``).

Not to be confused with :mod:`evalkit.store.export`, which renders one run as lm-eval JSON or CSV.
This copies rows: models, runs, results, samples, the request and score caches, lineage, judgments,
answers, the store settings, and battles with their votes, between any two stores (per-shard SQLite
files into one, SQLite into PostgreSQL, and back).

Copying is idempotent: every row is inserted only when the destination lacks its key (``ON CONFLICT
DO NOTHING``), so merging the same source twice adds nothing, and a row the destination already has
keeps the destination's value. Battles have no natural key (an arena battle is a shown pair), so a
battle counts as present when the destination has one with the same source key (an imported vote) or,
for an arena battle, the same time, question, models, side and annotator. The source is only read.
Each page of rows is one write transaction: an interrupted copy keeps what it wrote, and running it
again completes it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from evalkit.store.backend import Connection, Row
from evalkit.store.store import Store

#: Rows read from the source (and written to the destination) per transaction.
PAGE = 1000


@dataclass(frozen=True)
class Table:
    """A table copied row by row: its columns, and the key that says a row is already there."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]


#: In dependency order (runs before their results and samples). Judgments' ids are not copied: the
#: destination numbers its own rows, and UNIQUE (question, models, judge, prompt, mode) is their key.
TABLES: tuple[Table, ...] = (
    Table("models", ("fingerprint", "name", "path", "parent_fingerprint", "metadata", "created_at"),
          ("fingerprint",)),
    Table("runs", ("run_id", "suite", "suite_sha256", "model_fingerprint", "model_name", "config", "output_dir",
                   "status", "started_at", "finished_at", "timing"), ("run_id",)),
    Table("results", ("run_id", "task", "metric", "filter", "value", "stderr", "n"),
          ("run_id", "task", "metric", "filter")),
    Table("samples", ("run_id", "task", "doc_id", "filter", "record"), ("run_id", "task", "doc_id", "filter")),
    Table("request_cache", ("model_fingerprint", "request_hash", "request", "response", "created_at"),
          ("model_fingerprint", "request_hash")),
    Table("score_cache", ("score_key", "evalkit_version", "task", "evaluator", "scores", "created_at"),
          ("score_key", "evalkit_version")),
    Table("lineage", ("fingerprint", "path", "kind", "method", "adapter", "parent_model", "parent_fingerprint",
                      "config", "dataset_fingerprint", "dataset_rows", "steps", "wall_s", "final_loss",
                      "loss_curve", "merge_mode", "versions", "created_at"), ("fingerprint",)),
    Table("judgments", ("created_at", "question_id", "category", "model_a", "model_b", "judge", "prompt_version",
                        "mode", "verdict_ab", "verdict_ba", "raw_ab", "raw_ba", "outcome", "rating", "extra"),
          ("question_id", "model_a", "model_b", "judge", "prompt_version", "mode")),
    Table("answers", ("model", "question_id", "category", "prompt", "answer", "second_turn", "second_answer",
                      "source", "created_at"), ("model", "question_id")),
    # The annotator salt: a destination without one adopts the source's, so annotator ids stay comparable.
    Table("store_settings", ("key", "value"), ("key",)),
)
_BATTLE_COLUMNS = ("created_at", "question_id", "model_a", "model_b", "shown_left", "annotator", "source_key")


def _pages(store: Store, sql: str) -> Iterator[list[Row]]:
    def fetch(c: Connection, offset: int) -> list[Row]:
        return c.execute(f"{sql} LIMIT :limit OFFSET :offset", {"limit": PAGE, "offset": offset}).fetchall()

    offset = 0
    while True:
        rows = store._read(functools.partial(fetch, offset=offset))
        if not rows:
            return
        yield rows
        offset += len(rows)


def _copy_table(source: Store, dest: Store, table: Table) -> int:
    columns = ", ".join(table.columns)
    insert = (f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(':' + c for c in table.columns)}) "
              f"ON CONFLICT ({', '.join(table.key)}) DO NOTHING")
    encode = dest._opened().doc_id
    added = 0
    for rows in _pages(source, f"SELECT {columns} FROM {table.name} ORDER BY {', '.join(table.key)}"):
        params = [{c: row[c] for c in table.columns} for row in rows]
        if table.name == "samples":
            # Each backend stores doc_id its own way; the record holds it as it was written.
            for param in params:
                param["doc_id"] = encode(json.loads(param["record"])["doc_id"])
        added += dest._write(functools.partial(_insert_each, insert, params))
    return added


def _insert_each(sql: str, params: list[dict[str, Any]], c: Connection) -> int:
    # One statement per row (not executemany): its rowcount says whether the row was new, on both drivers.
    return sum(c.execute(sql, p).rowcount for p in params)


def _find_battle(c: Connection, battle: dict[str, Any]) -> int | None:
    if battle["source_key"] is not None:
        row = c.execute("SELECT id FROM battles WHERE source_key = :source_key", battle).fetchone()
    else:
        # NULLs compare unequal with '=': a battle shown to nobody known matches on "annotator IS NULL".
        who = "annotator = :annotator" if battle["annotator"] is not None else "annotator IS NULL"
        row = c.execute("SELECT id FROM battles WHERE source_key IS NULL AND created_at = :created_at AND "
                        "question_id = :question_id AND model_a = :model_a AND model_b = :model_b AND "
                        f"shown_left = :shown_left AND {who} ORDER BY id LIMIT 1", battle).fetchone()
    return None if row is None else int(row[0])


def _copy_battles(source: Store, dest: Store) -> tuple[int, int]:
    sql = (f"SELECT {', '.join('b.' + c for c in _BATTLE_COLUMNS)}, v.annotator AS voter, v.choice, "
           "v.created_at AS voted_at FROM battles b LEFT JOIN votes v ON v.battle_id = b.id ORDER BY b.id")
    added_battles = added_votes = 0
    for rows in _pages(source, sql):
        def write(c: Connection, rows: list[Row] = rows) -> tuple[int, int]:
            battles = votes = 0
            for row in rows:
                battle = {column: row[column] for column in _BATTLE_COLUMNS}
                battle_id = _find_battle(c, battle)
                if battle_id is None:
                    battle_id = int(c.execute(
                        f"INSERT INTO battles ({', '.join(_BATTLE_COLUMNS)}) "
                        f"VALUES ({', '.join(':' + col for col in _BATTLE_COLUMNS)}) RETURNING id",
                        battle).fetchone()[0])
                    battles += 1
                if row["choice"] is not None:
                    votes += c.execute(
                        "INSERT INTO votes (battle_id, annotator, choice, created_at) "
                        "VALUES (:id, :who, :choice, :at) ON CONFLICT (battle_id) DO NOTHING",
                        {"id": battle_id, "who": row["voter"], "choice": row["choice"],
                         "at": row["voted_at"]}).rowcount
            return battles, votes

        battles, votes = dest._write(write)
        added_battles += battles
        added_votes += votes
    return added_battles, added_votes


def copy_store(source: Store, dest: Store, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of ``source`` that ``dest`` lacks into ``dest``; return how many rows each table gained.

    The keys are the table names (``battles`` and ``votes`` included), in copying order. ``progress``,
    when given, is called with each table's name and count as it is done.
    """
    if source.location == dest.location:
        raise ValueError(f"cannot copy the store {source.location} into itself")
    added: dict[str, int] = {}
    for table in TABLES:
        added[table.name] = _copy_table(source, dest, table)
        if progress:
            progress(table.name, added[table.name])
    added["battles"], added["votes"] = _copy_battles(source, dest)
    if progress:
        progress("battles", added["battles"])
        progress("votes", added["votes"])
    return added
