"""Upgrading a store written by evalkit 0.1.0 (schema 1, tests/store/fixtures/store_v1.db) loses nothing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from evalkit.scores import ItemScore
from evalkit.store import Store, db

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.db"
OLD_SCORES_PREFIX = "scores:evalkit-"


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(str(path))
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def test_version_2_moves_cached_scores_to_their_own_table_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "evalkit.db"
    shutil.copy(FIXTURE, path)
    assert _rows(path, "PRAGMA user_version") == [(1,)]
    before = {table: _rows(path, f"SELECT * FROM {table} ORDER BY 1, 2, 3")
              for table in ("models", "runs", "results", "samples")}
    old_cache = _rows(path, "SELECT * FROM request_cache ORDER BY 1, 2")
    old_scores = [r for r in old_cache if r[0].startswith(OLD_SCORES_PREFIX)]
    answers = [r for r in old_cache if not r[0].startswith(OLD_SCORES_PREFIX)]
    assert len(old_scores) == 2 and len(answers) == 3 and all(before.values())

    with Store(path) as store:
        assert store.schema_version() == db.latest_version() >= 2
        run_ids = [r.run_id for r in store.list_runs()]
        assert {store.get_run(r)["run"]["status"] for r in run_ids} == {"finished", "failed", "imported"}
        for model_fingerprint, request_hash, _request, response, _created in answers:
            assert store.cache_get_many(model_fingerprint, [request_hash]) == {request_hash: json.loads(response)}
        for namespace, key, _request, response, _created in old_scores:
            version = namespace.removeprefix(OLD_SCORES_PREFIX)
            assert store.scores_get(key, version) == json.loads(response)
            payload = store.scores_get(key, version)
            # The old payload still reads as item scores (with no details).
            items = [ItemScore.from_json(s) for doc in payload["scores"] for s in doc]
            assert items and all(i.details == {} for i in items)
        assert store.scores_count() == len(old_scores)

    # Every other table is byte for byte what it was; request_cache lost only the scores.
    for table, rows in before.items():
        assert _rows(path, f"SELECT * FROM {table} ORDER BY 1, 2, 3") == rows, table
    assert _rows(path, "SELECT * FROM request_cache ORDER BY 1, 2") == answers
    moved = _rows(path, "SELECT score_key, evalkit_version, task, evaluator, scores, created_at FROM score_cache "
                        "ORDER BY score_key")
    expected = sorted((key, ns.removeprefix(OLD_SCORES_PREFIX), json.loads(req)["task"], json.loads(req)["evaluator"],
                       resp, created) for ns, key, req, resp, created in old_scores)
    assert moved == expected
    assert {m[2] for m in moved} == {"pairs", "mmlu_fixture"}


def test_a_new_store_has_the_score_cache(tmp_path: Path) -> None:
    with Store(tmp_path / "new.db") as store:
        store.scores_put("k", "9.9", "t", "e", {"scores": [], "aggregates": {}})
        assert store.scores_get("k", "9.9") == {"scores": [], "aggregates": {}}
        assert store.scores_get("k", "1.0") is None
        assert store.cache_count("scores:evalkit-9.9") == 0
