"""``evalkit store export|merge``: every kind of row arrives, on both backends, and copying again adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.judge.agreement import HumanVote
from evalkit.store import ResultRow, Store
from tests.pg_server import rows

TABLES = ("models", "runs", "results", "samples", "request_cache", "score_cache", "lineage", "judgments", "answers",
          "store_settings", "battles", "votes")
JUDGMENT = {"question_id": "q1", "model_a": "A", "model_b": "B", "judge": "http://j/v1#judge", "prompt_version": "v1",
            "mode": "pairwise", "verdict_ab": "A", "verdict_ba": "B", "raw_ab": "[[A]]", "raw_ba": "[[B]]",
            "outcome": "win", "extra": {"retries": []}}
LINEAGE = {"kind": "train", "method": "sft", "adapter": "lora", "parent_model": "base", "parent_fingerprint": "fp-base",
           "config": {"lr": 1e-4}, "steps": 3, "final_loss": 1.25, "loss_curve": [{"step": 1, "loss": 2.0}]}


def _fill(spec: str | Path, name: str) -> None:
    """A store holding one of everything, its keys made distinct by ``name`` (two shards differ)."""
    with Store(spec) as store:
        store.upsert_model(f"fp-{name}", f"model-{name}", "/m", "fp-base", {"kind": "sft"})
        store.create_run(f"run-{name}", "suite", "0" * 64, f"fp-{name}", f"model-{name}", {"seed": 1}, None)
        store.add_results(f"run-{name}", [ResultRow("t", "acc", "none", 0.75, 0.05, 4),
                                          ResultRow("t", "f1", "none", float("nan"), None, 4)])
        store.add_samples(f"run-{name}", "t", [{"doc_id": 10, "filter": "none", "acc": 1},
                                               {"doc_id": 2, "filter": "none", "acc": 0},
                                               {"doc_id": "x7", "filter": "none", "acc": 1}])
        store.finish_run(f"run-{name}", "finished", {"wall_s": 1.5})
        store.cache_put_many(f"fp-{name}", [(f"h-{name}", {"prompt": "2+2"}, {"text": "4"})])
        store.scores_put(f"key-{name}", "0.1.0", "t", "acc", {"scores": [[1]]})
        store.put_lineage(f"fp-{name}", "/m", LINEAGE)
        store.put_judgments([{**JUDGMENT, "question_id": f"q-{name}"}])
        store.put_answers([{"model": "A", "question_id": f"q-{name}", "category": "c", "prompt": "p", "answer": "a",
                            "second_turn": None, "second_answer": None, "source": "generated"}])
        voted = store.add_battle(f"q-{name}", "A", "B", shown_left="model_b", annotator="h1")
        store.add_vote(voted, "h1", "model_b")
        store.add_battle(f"q-{name}", "B", "C")  # shown, never voted on, annotator unknown
        store.import_votes([HumanVote(f"q-{name}", "A", "C", "tie", "ada")], f"votes-{name}.csv")


def _counts(spec: str | Path) -> dict[str, int]:
    return {table: int(str(rows(spec, f"SELECT COUNT(*) FROM {table}")[0][0])) for table in TABLES}


def _store(spec: str | Path, *args: str) -> int:
    return main(["store", *args, "--store", str(spec)])


def test_export_copies_every_kind_of_row_and_again_adds_nothing(tmp_path: Path, store_spec: str | Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source.db"
    _fill(source, "s")
    assert _store(source, "export", str(store_spec)) == 0
    first = capsys.readouterr().out
    assert "2 results" in first and "3 samples" in first and "1 votes" not in first and "2 votes" in first
    copied = _counts(store_spec)
    assert copied == _counts(source)
    assert copied["battles"] == 3 and copied["votes"] == 2 and copied["store_settings"] == 1

    with Store(store_spec) as dest, Store(source) as src:
        run = dest.get_run("run-s")
        assert run is not None and run["run"]["status"] == "finished" and run["run"]["timing"] == {"wall_s": 1.5}
        assert run["results"][0] == ResultRow("t", "acc", "none", 0.75, 0.05, 4)
        assert [s["doc_id"] for s in dest.get_samples("run-s")] == [2, 10, "x7"]  # the samples' order survives
        assert dest.cache_get_many("fp-s", ["h-s"]) == {"h-s": {"text": "4"}}
        assert dest.scores_get("key-s", "0.1.0") == {"scores": [[1]]}
        assert dest.get_lineage("fp-s")["loss_curve"] == [{"step": 1, "loss": 2.0}]  # type: ignore[index]
        assert [j["outcome"] for j in dest.get_judgments(model_a="A")] == ["win"]
        assert dest.get_answers("A")[0]["question_id"] == "q-s"
        assert dest.list_votes() == src.list_votes() == [("A", "B", "model_b"), ("A", "C", "tie")]
        assert dest.get_model("fp-s") == src.get_model("fp-s")
        # The salt came along, so the arena and later imports hash a person as the source did.
        assert dest.setting("annotator_salt", lambda: "new") == src.setting("annotator_salt", lambda: "other")

    assert _store(source, "export", str(store_spec)) == 0
    assert capsys.readouterr().out.count(" 0 ") == len(TABLES)  # "... 0 models, 0 runs, ... added"
    assert _counts(store_spec) == copied


def test_merging_shards_adds_each_once(tmp_path: Path, store_spec: str | Path) -> None:
    shards = [tmp_path / "shard-0.db", tmp_path / "shard-1.db"]
    for i, shard in enumerate(shards):
        _fill(shard, f"s{i}")
    assert _store(store_spec, "merge", *map(str, shards)) == 0
    merged = _counts(store_spec)
    one = _counts(shards[0])
    # Everything twice, except the one store setting (the first shard's salt is kept).
    assert merged == {table: 2 * n if table != "store_settings" else 1 for table, n in one.items()}
    assert _store(store_spec, "merge", *map(str, shards)) == 0
    assert _counts(store_spec) == merged
    with Store(store_spec) as store:
        assert {r.run_id for r in store.list_runs()} == {"run-s0", "run-s1"}


def test_a_postgresql_store_exports_back_to_sqlite(tmp_path: Path, postgres_url: str) -> None:
    source = tmp_path / "source.db"
    _fill(source, "s")
    assert _store(source, "export", postgres_url) == 0
    back = tmp_path / "back.db"
    assert _store(postgres_url, "export", str(back)) == 0
    assert _counts(back) == _counts(source)
    with Store(back) as store:
        assert [s["doc_id"] for s in store.get_samples("run-s")] == [2, 10, "x7"]
    # The round trip found its own rows again: nothing is added to the first store.
    assert _store(source, "merge", str(back)) == 0
    assert _counts(source) == _counts(back)


@pytest.mark.parametrize(("args", "message"), [
    (["merge", "{tmp}/absent.db"], "absent.db: no such store file"),
    (["merge", "{tmp}/own.db"], "own.db: is the store being copied into"),
    (["export", "mysql://u@h/db"], "not mysql://"),  # refused by argparse: exits before anything opens
])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               message: str) -> None:
    own = tmp_path / "own.db"
    _fill(own, "o")
    before = _counts(own)
    try:
        code = _store(own, *(a.format(tmp=tmp_path) for a in args))
    except SystemExit as exit_:
        code = int(str(exit_.code))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _counts(own) == before and not (tmp_path / "absent.db").exists()
