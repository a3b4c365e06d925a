"""The answers table (what the arena shows) and the store settings (the per-store annotator salt)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from evalkit.store import Store


def _answer(model: str, qid: str, text: str) -> dict[str, str | None]:
    return {"model": model, "question_id": qid, "category": "writing", "prompt": f"prompt {qid}", "answer": text,
            "second_turn": None, "second_answer": None, "source": "generated"}


def test_answers_round_trip_and_a_rerun_replaces(store_spec: str | Path) -> None:
    with Store(store_spec) as store:
        store.put_answers([_answer("m1", "q2", "two"), _answer("m1", "q1", "one"), _answer("m2", "q1", "uno")])
        store.put_answers([_answer("m1", "q1", "one, again")])
        assert [(a["model"], a["question_id"], a["answer"]) for a in store.get_answers()] == [
            ("m1", "q1", "one, again"), ("m1", "q2", "two"), ("m2", "q1", "uno")]
        assert [a["question_id"] for a in store.get_answers("m1")] == ["q1", "q2"]
        with pytest.raises(ValueError, match="unknown fields"):
            store.put_answers([{**_answer("m1", "q3", "x"), "score": 1}])
        assert len(store.get_answers()) == 3


def test_a_bad_source_is_refused_by_the_schema(store_spec: str | Path) -> None:

    with Store(store_spec) as store, pytest.raises(Store.IntegrityError):
        store.put_answers([{**_answer("m1", "q1", "x"), "source": "invented"}])


def _salt(path: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import secrets

    with Store(path) as store:
        out.put(store.setting("annotator_salt", lambda: secrets.token_hex(16)))


def test_a_setting_is_made_once_even_by_racing_processes(store_spec: str | Path) -> None:
    path = str(store_spec)
    Store(path).close()
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    workers = [spawn.Process(target=_salt, args=(path, out)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    salts = {out.get(timeout=5) for _ in workers}
    assert len(salts) == 1
    with Store(path) as store:
        assert store.setting("annotator_salt", lambda: "never used") == salts.pop()
