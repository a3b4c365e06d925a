"""Requests a model cannot answer are refused before anything runs: a causal-LM task on a reward model,
score requests to a language model (the run's own, or the reward model a task names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evalkit.config import RunConfig
from evalkit.engine.requests import Request, Score
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, register_evaluator
from evalkit.runner import run_suite
from evalkit.scores import ItemScore
from evalkit.suites import load_suite
from tests.conftest import run_cli, write_jsonl
from tests.engine.test_score_backend import save_reward_model


@register_evaluator("score_only_probe")
class ScoreOnly(Evaluator):
    """Sends one score request per document (the runner must refuse it on a language model)."""

    request_kinds = frozenset({"score"})

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        return [Score(str(doc["text"]), " yes")]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return [ItemScore("none", responses, {"reward": responses[0]})]


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_reward_model(tiny_model_dir, tmp_path_factory.mktemp("reward"))


def suite(tmp_path: Path, evaluator: str, extra: str = "") -> Path:
    write_jsonl(tmp_path / "rows.jsonl", [{"text": "Hello there.", "prompt": "Hi?"}])
    path = tmp_path / "suite.yaml"
    path.write_text(f"""
suite: probe
tasks:
  - name: t
    evaluator: {evaluator}
    dataset: {{path: json, data_files: rows.jsonl}}
{extra}""")
    return path


def test_a_language_model_task_on_a_reward_model_is_one_line_exit_2(reward_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("run", str(suite(tmp_path, "perplexity")), "--model", str(reward_dir), "--output", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"--model {reward_dir}: a reward model (sequence classification) answers only score requests; "
        "tasks t need loglikelihood_rolling (use a local model for them)"]
    assert not out.exists()


def test_score_requests_to_a_language_model_are_refused_before_anything_runs(tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    loaded = load_suite(suite(tmp_path, "score_only_probe"))
    config = RunConfig.resolve(loaded, model=str(tiny_model_dir), store_path=tmp_path / "s.db", output=tmp_path / "o")
    with pytest.raises(UserError, match=r"a local transformers model answers only generate_until, loglikelihood, "
                                        r"loglikelihood_rolling requests; tasks t need score"):
        run_suite(loaded, config)
    assert not (tmp_path / "o").exists()


def test_a_reward_model_that_is_a_language_model_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    loaded = load_suite(suite(tmp_path, "reward_score", f"    reward_model: {tiny_model_dir}\n"))
    config = RunConfig.resolve(loaded, model=str(tiny_model_dir), store_path=tmp_path / "s.db", output=tmp_path / "o")
    with pytest.raises(UserError, match=r"task t: reward_model .*: a local transformers model answers only .*; "
                                        r"score needed"):
        run_suite(loaded, config)
    assert not (tmp_path / "o").exists()
