"""reward_score end to end through ``run_suite``: a scripted tiny Llama answers, a tiny random reward model scores.

The policy is the tiny Llama with an output layer that makes greedy decoding after a line break write
"Blue sky is" (and again): a random model writes only line breaks, which an answer turn strips to nothing.

The expected mean is the reward backend's own scores of the generated answers (read back from the
samples), averaged; its standard error the sample standard deviation over √n.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from evalkit.config import RunConfig
from evalkit.engine.requests import Score
from evalkit.engine.reward import RewardBackend
from evalkit.models.resolve import resolve_model
from evalkit.runner import RunOutcome, run_suite
from evalkit.suites import load_suite
from tests.conftest import collect_responses, save_scripted_model, write_jsonl
from tests.engine.test_score_backend import save_reward_model

PROMPTS = ["Name a colour.", "What is 2+2?", "Say hello.", "Write one word about the sea."]


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_reward_model(tiny_model_dir, tmp_path_factory.mktemp("reward"), seed=5)


@pytest.fixture(scope="module")
def policy_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    script = [tokenizer.encode(piece, add_special_tokens=False)[0] for piece in ("\n", "Blue", " sky", " is")]
    return save_scripted_model(tiny_model_dir, script, tmp_path_factory.mktemp("scripted"))


def run(tmp_path: Path, model: Path, reward_dir: Path, out: str, chat: bool = True) -> RunOutcome:
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in PROMPTS])
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""
suite: rs
defaults: {{batch_size: 2, generation: {{max_gen_toks: 6}}}}
tasks:
  - name: rs
    evaluator: reward_score
    dataset: {{path: json, data_files: prompts.jsonl}}
    reward_model: {reward_dir}
    apply_chat_template: {str(chat).lower()}
""")
    loaded = load_suite(suite)
    config = RunConfig.resolve(loaded, model=str(model), store_path=tmp_path / "store.db", output=tmp_path / out)
    return run_suite(loaded, config)


def backend_scores(reward_dir: Path, requests: list[Score]) -> list[float]:
    backend = RewardBackend.load(resolve_model(str(reward_dir)), device="cpu", dtype="float32", batch_size=1)
    return [float(x) for x in collect_responses(backend.score, requests)]


def samples(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "samples_rs.jsonl").read_text().splitlines()]


def test_the_mean_reward_is_the_backends_scores_averaged(policy_dir: Path, reward_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = run(tmp_path, policy_dir, reward_dir, "a")
    answers = [s["filtered_resps"][0] for s in samples(tmp_path / "a")]
    assert answers == ["Blue sky is\nBlue sky"] * len(PROMPTS)
    requests = [Score((("user", p),), (("assistant", a),)) for p, a in zip(PROMPTS, answers)]
    rewards = backend_scores(reward_dir, requests)
    got = outcome.results["rs"]["none"]["reward"]
    assert got.value == pytest.approx(statistics.fmean(rewards), abs=1e-4)
    assert got.stderr == pytest.approx(statistics.stdev(rewards) / math.sqrt(len(rewards)), abs=1e-4)
    assert got.n == len(PROMPTS)
    assert [s["reward"] for s in samples(tmp_path / "a")] == pytest.approx(rewards, abs=1e-4)

    # A rerun makes no model call: any model load now fails the run (fault injection).
    import evalkit.engine.loading

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was loaded on a rerun")

    monkeypatch.setattr(evalkit.engine.loading, "load_backend", no_load)
    again = run(tmp_path, policy_dir, reward_dir, "b")
    assert again.results["rs"]["none"]["reward"].value == got.value and again.stats.computed == 0


def test_a_text_continuation_is_scored_as_text(policy_dir: Path, reward_dir: Path, tmp_path: Path) -> None:
    outcome = run(tmp_path, policy_dir, reward_dir, "a", chat=False)
    answers = [s["filtered_resps"][0] for s in samples(tmp_path / "a")]
    rewards = backend_scores(reward_dir, [Score(p, a) for p, a in zip(PROMPTS, answers)])
    assert outcome.results["rs"]["none"]["reward"].value == pytest.approx(statistics.fmean(rewards), abs=1e-4)
