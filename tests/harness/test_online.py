"""``method: grpo`` / ``rloo`` against a reward model from ``method: reward``: a CPU smoke test on the tiny
random Llama (a few steps, 8-token completions), and the reward model's checks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset
from transformers import TrainerCallback

from evalkit.errors import UserError
from evalkit.harness.config import TrainConfig
from evalkit.harness.data import PreparedRows
from evalkit.harness.reward_model import load_reward_model, reward_checkpoint_kind
from evalkit.harness.trainer import run_training
from tests.harness.reward_data import rewards, toy_pairs
from tests.harness.train_script import CHATML


def _prompts(n: int = 4) -> PreparedRows:
    prompts = [{"prompt": p["prompt"]} for p in toy_pairs(n, seed=3)]
    return PreparedRows(Dataset.from_list(prompts), None, "prompt", "inline", n, conversational=True)


@pytest.fixture(scope="module")
def reward_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA reward model on the tiny Llama, two steps of RewardTrainer (its head no longer the initial one)."""
    output = tmp_path_factory.mktemp("reward") / "adapter"
    config = TrainConfig.model_validate({
        "method": "reward", "model": str(tiny_model_dir), "adapter": "lora", "dataset": {"path": "inline"},
        "max_length": 64, "lora": {"r": 4, "lora_alpha": 8},
        "trainer": {"per_device_train_batch_size": 2, "learning_rate": 1e-3, "save_strategy": "no"}})
    rows = PreparedRows(Dataset.from_list(toy_pairs(4, seed=0)), None, "preference", "inline", 4, conversational=True)
    run_training(config, rows=rows, chat_template=CHATML, output=output, max_steps=2, base_dir=output.parent)
    return output


def _online_config(method: str, model: Path, reward_model: Path, **trainer: Any) -> TrainConfig:
    return TrainConfig.model_validate({
        "method": method, "model": str(model), "adapter": "lora", "reward_model": str(reward_model),
        "dataset": {"path": "inline"}, "lora": {"r": 4, "lora_alpha": 8},
        "trainer": {"per_device_train_batch_size": 2, "num_generations": 2, "max_completion_length": 8,
                    "learning_rate": 1e-3, "save_strategy": "no", **trainer}})


class Logs(TrainerCallback):
    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        self.logs.append(dict(logs or {}))


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_online_training_against_a_reward_adapter(method: str, tiny_model_dir: Path, reward_adapter: Path,
                                                  tmp_path: Path) -> None:
    output = tmp_path / method
    logs = Logs()
    outcome = run_training(_online_config(method, tiny_model_dir, reward_adapter), rows=_prompts(),
                           chat_template=CHATML, output=output, max_steps=2, base_dir=tmp_path, callbacks=[logs])
    assert outcome.steps == 2 and len(outcome.loss_curve) == 2
    assert all(math.isfinite(p["loss"]) for p in outcome.loss_curve)
    # every step's completions were scored by the reward model (TRL logs each reward function's mean)
    scored = [v for log in logs.logs for k, v in log.items() if k.startswith("rewards/") and k.endswith("/mean")]
    assert len(scored) == 2 and all(math.isfinite(v) for v in scored), logs.logs
    adapter = json.loads((output / "adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM"  # the policy: a language model, not a classifier
    assert adapter["base_model_name_or_path"] == str(tiny_model_dir.resolve())


def test_the_reward_model_loads_as_trained(tiny_model_dir: Path, reward_adapter: Path) -> None:
    """An adapter loads merged onto its base: the same rewards as PEFT's own wrapper gives (independent load)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, tokenizer = load_reward_model(reward_adapter)
    assert reward_checkpoint_kind(reward_adapter) == "adapter"
    assert model.config.pad_token_id == tokenizer.pad_token_id is not None
    reference = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype=torch.float32), str(reward_adapter))
    pairs = toy_pairs(3, seed=5)
    got = [x for pair in rewards(model, tokenizer, pairs) for x in pair]
    expected = [x for pair in rewards(reference, AutoTokenizer.from_pretrained(reward_adapter), pairs) for x in pair]
    assert got == pytest.approx(expected, abs=1e-5)


def test_a_causal_lm_is_not_a_reward_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="LlamaForCausalLM checkpoint, not a sequence-classification reward model"):
        reward_checkpoint_kind(tiny_model_dir)
    with pytest.raises(UserError, match="no such folder"):
        reward_checkpoint_kind(tmp_path / "missing")
    causal_adapter = tmp_path / "sft-adapter"
    causal_adapter.mkdir()
    (causal_adapter / "adapter_config.json").write_text(json.dumps({"task_type": "CAUSAL_LM"}))
    with pytest.raises(UserError, match="task_type 'CAUSAL_LM', not a reward model"):
        reward_checkpoint_kind(causal_adapter)
    # In training, the config's reward_model line says so, before the policy loads.
    with pytest.raises(UserError, match=r"reward_model: .*not a sequence-classification reward model"):
        run_training(_online_config("grpo", tiny_model_dir, tiny_model_dir), rows=_prompts(), chat_template=CHATML,
                     output=tmp_path / "out", max_steps=1, base_dir=tmp_path)
    assert not (tmp_path / "out").exists()
