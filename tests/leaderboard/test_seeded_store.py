"""The seeded store holds what its docstring promises (the other leaderboard tests rely on it)."""

from __future__ import annotations

import shutil

from evalkit.store import Store
from tests.leaderboard.conftest import SeededStore


def test_seeded_store_has_runs_lineage_judgments_answers_and_votes(seeded_store: SeededStore) -> None:
    with Store(seeded_store.path) as store:
        runs = store.list_runs()
        by_model = {r.model_name: r for r in runs}
        assert {*seeded_store.chain, seeded_store.imported} <= set(by_model)
        assert by_model[seeded_store.imported].status == "imported"
        for model in seeded_store.chain:
            run = by_model[model]
            assert run.status == "finished"
            tasks = {r.task for r in store.get_results(run.run_id)}
            expected = set(seeded_store.tasks) - ({"humaneval"} if shutil.which("bwrap") is None else set())
            assert expected <= tasks
            assert store.get_samples(run.run_id, "mmlu")
        dpo = store.get_model(by_model[seeded_store.dpo].model_fingerprint)
        assert dpo is not None
        merge = store.get_lineage(dpo["fingerprint"])
        assert merge is not None and merge["kind"] == "merge"
        answers = store.get_answers()
        assert {a["model"] for a in answers} == set(seeded_store.judge_models)
        assert {j["outcome"] for j in store.get_judgments()} >= {"win", "loss", "tie", "unscored"}
        assert len(store.list_votes()) == 9
