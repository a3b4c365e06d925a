"""``method: reward`` on a tiny random Llama: a reward model that learns a separable toy preference, reloads
(adapter and merged) to the scores it trained to, full and QLoRA variants, the pairs TRL drops for length
counted and reported, and the margin column reaching TRL's loss."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset
from transformers import TrainerCallback

from evalkit.harness.config import TrainConfig
from evalkit.harness.data import PreparedRows
from evalkit.harness.trainer import run_training
from tests.harness.reward_data import MARKER, accuracy, rewards, toy_pairs
from tests.harness.train_script import CHATML

HELD_OUT = toy_pairs(24, seed=1)


class ScoresAtTheEnds(TrainerCallback):
    """The held-out rewards of the model being trained, before its first step and after its last."""

    def __init__(self) -> None:
        self.before: list[tuple[float, float]] = []
        self.after: list[tuple[float, float]] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                       **kwargs: Any) -> None:
        self.before = rewards(model, processing_class, HELD_OUT)
        model.train()

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None,
                     **kwargs: Any) -> None:
        self.after = rewards(model, processing_class, HELD_OUT)


def reward_config(model: Path | str, adapter: str = "lora", **trainer: Any) -> TrainConfig:
    return TrainConfig.model_validate({
        "method": "reward", "model": str(model), "adapter": adapter, "dataset": {"path": "inline"},
        "max_length": 64, "seed": 0,
        "lora": None if adapter == "none" else {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        "trainer": {"per_device_train_batch_size": 4, "learning_rate": 5e-3, "lr_scheduler_type": "constant",
                    "save_strategy": "no", **trainer}})


def pair_rows(pairs: list[dict[str, Any]]) -> PreparedRows:
    return PreparedRows(Dataset.from_list(pairs), None, "preference", "inline", len(pairs), conversational=True)


def load_scores(folder: Path, base: Path | None = None) -> list[tuple[float, float]]:
    """Held-out rewards of a saved reward model, loaded as the contract says (independently of evalkit)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if base is None:
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype=torch.float32), str(folder))
    return rewards(model, tokenizer, HELD_OUT)


def assert_same_scores(got: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    flat_got = [x for pair in got for x in pair]
    flat_expected = [x for pair in expected for x in pair]
    assert flat_got == pytest.approx(flat_expected, abs=1e-4)


def test_a_lora_reward_model_learns_the_marker_and_reloads_as_adapter_and_merged(tiny_model_dir: Path,
                                                                                 tmp_path: Path) -> None:
    from evalkit.harness.merge import adapter_source, merge_adapter

    scores = ScoresAtTheEnds()
    output = tmp_path / "reward"
    outcome = run_training(reward_config(tiny_model_dir), rows=pair_rows(toy_pairs(64, seed=0)),
                           chat_template=CHATML, output=output, max_steps=15, base_dir=tmp_path, callbacks=[scores])
    assert outcome.steps == 15 and outcome.too_long == {"train": 0}
    # Held-out pairs (other words, the same marker): the untrained head is no better than chance, the trained
    # one separates every pair.
    assert accuracy(scores.before) <= 0.75
    assert accuracy(scores.after) == 1.0
    assert all(MARKER in p["chosen"][0]["content"] and MARKER not in p["rejected"][0]["content"] for p in HELD_OUT)

    adapter = json.loads((output / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    assert adapter["base_model_name_or_path"] == str(tiny_model_dir.resolve())
    assert_same_scores(load_scores(output, base=tiny_model_dir), scores.after)

    merged = tmp_path / "merged"
    record = merge_adapter(adapter_source(output), merged)
    assert record.kind == "merge"
    config = json.loads((merged / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert len(config["id2label"]) == 1 and config["pad_token_id"] is not None
    assert not (merged / "generation_config.json").exists()  # a classifier generates nothing
    assert_same_scores(load_scores(merged), scores.after)


def test_full_reward_training_saves_a_sequence_classifier(tiny_model_dir: Path, tmp_path: Path) -> None:
    scores = ScoresAtTheEnds()
    output = tmp_path / "reward"
    run_training(reward_config(tiny_model_dir, adapter="none", learning_rate=1e-3), rows=pair_rows(toy_pairs(8, 0)),
                 chat_template=CHATML, output=output, max_steps=2, base_dir=tmp_path, callbacks=[scores])
    config = json.loads((output / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert len(config["id2label"]) == 1
    from transformers import AutoTokenizer

    assert config["pad_token_id"] == AutoTokenizer.from_pretrained(output).pad_token_id is not None
    assert scores.after != scores.before  # it trained
    assert_same_scores(load_scores(output), scores.after)


def test_qlora_reward_trains_the_score_head_over_a_4bit_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    output = tmp_path / "reward"
    outcome = run_training(reward_config(tiny_model_dir, adapter="qlora"), rows=pair_rows(toy_pairs(8, 0)),
                           chat_template=CHATML, output=output, max_steps=2, base_dir=tmp_path)
    assert outcome.steps == 2
    assert json.loads((output / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"
    saved = load_file(output / "adapter_model.safetensors")
    assert any(name.endswith("score.weight") for name in saved), sorted(saved)[:5]  # the whole head is saved


def test_pairs_longer_than_max_length_are_counted_and_reported(tiny_model_dir: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer
    from trl.data_utils import _tokenize

    from evalkit.harness.reward_lengths import pairs_over_length

    short = toy_pairs(6, seed=0)
    long = toy_pairs(3, seed=2)
    for pair in long:  # 60 words: far over 64 tokens with the template
        pair["rejected"] = [{"role": "assistant", "content": " ".join(["word"] * 60)}]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = CHATML
    assert all(len(_tokenize(tokenizer, p["prompt"] + p[a])["input_ids"]) <= 64 for p in short for a in
               ("chosen", "rejected"))
    rows = pair_rows(short + long)
    assert pairs_over_length(rows.train, tokenizer, 64) == 3  # what --check reports, without a model

    outcome = run_training(reward_config(tiny_model_dir), rows=rows, chat_template=CHATML, output=tmp_path / "out",
                           max_steps=1, base_dir=tmp_path)
    assert outcome.too_long == {"train": 3}
    assert ("pairs longer than max_length (64 tokens, chosen or rejected) are left out by TRL's RewardTrainer: "
            "train: 3 of 9") in capsys.readouterr().err


def test_all_pairs_too_long_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    from evalkit.errors import UserError

    pairs = toy_pairs(2, seed=0)
    with pytest.raises(UserError, match="every one of the 2 training pairs is longer than max_length"):
        run_training(reward_config(tiny_model_dir).model_copy(update={"max_length": 8}), rows=pair_rows(pairs),
                     chat_template=CHATML, output=tmp_path / "out", max_steps=1, base_dir=tmp_path)


def test_a_margin_column_reaches_the_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    """RewardTrainer subtracts the batch's margin inside the loss: the first step's loss with a margin of m on
    every pair equals the mean of -log sigmoid(r_chosen - r_rejected - m) over the untrained rewards."""
    import math

    pairs = [{**p, "margin": 2.0} for p in toy_pairs(4, seed=0)]
    scores = ScoresAtTheEnds()
    config = reward_config(tiny_model_dir, per_device_train_batch_size=4, learning_rate=0.0)
    saved_held_out = list(HELD_OUT)
    HELD_OUT[:] = [{k: v for k, v in p.items() if k != "margin"} for p in pairs]  # score the training pairs
    try:
        outcome = run_training(config, rows=pair_rows(pairs), chat_template=CHATML, output=tmp_path / "out",
                               max_steps=1, base_dir=tmp_path, callbacks=[scores])
    finally:
        HELD_OUT[:] = saved_held_out
    expected = sum(-math.log(1 / (1 + math.exp(-(c - r - 2.0)))) for c, r in scores.before) / len(pairs)
    assert outcome.loss_curve[0]["loss"] == pytest.approx(expected, abs=1e-4)


def test_cli_trains_merges_and_checks_a_reward_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    """evalkit train (the left-out pair on stderr and in the lineage, file and store), evalkit merge through the
    sequence-classification class, and evalkit train --check counting the same pair without a model."""
    from evalkit.harness.lineage import read_lineage, record_from_store
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store
    from tests.conftest import run_cli, write_jsonl

    pairs = toy_pairs(8, seed=0)
    pairs.append({**pairs[0], "rejected": [{"role": "assistant", "content": " ".join(["word"] * 60)}]})
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    (tmp_path / "chatml.jinja").write_text(CHATML)
    config = tmp_path / "reward.yaml"
    # The model relative to the config's folder (not the working directory, which run_cli sets to the repository).
    relative = os.path.relpath(tiny_model_dir, tmp_path)
    config.write_text(f"method: reward\nmodel: {relative}\nadapter: lora\nchat_template: chatml.jinja\n"
                      "dataset: {path: pairs.jsonl}\nmax_length: 64\nlora: {r: 4, lora_alpha: 8}\n"
                      "trainer: {per_device_train_batch_size: 2, save_strategy: 'no'}\n")

    checked = run_cli("train", "--check", str(config))
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "rows: 9 read, 0 dropped by filter, 9 to train on (preference, conversational)" in checked.stdout
    assert "by length: 1 of 9 pairs longer than 64 tokens (chosen or rejected), left out by TRL's " \
           "RewardTrainer; 8 train" in checked.stdout
    assert not (tmp_path / "evalkit-home").exists()  # nothing written, not even the store

    output = tmp_path / "out"
    done = run_cli("train", str(config), "--output", str(output), "--max-steps", "2", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "are left out by TRL's RewardTrainer: train: 1 of 9" in done.stderr
    assert f"reward (lora) on {relative}: 2 steps" in done.stdout
    assert "1 pairs over max_length left out" in done.stdout
    record = read_lineage(output)
    assert record is not None and (record.kind, record.method, record.adapter) == ("train", "reward", "lora")
    assert record.dataset_rows == 9 and record.dropped_rows == {"too_long": 1}
    # Recorded so that a reader anywhere finds the parent (the implicit reward's reference, the lineage table).
    assert record.parent_model == str(tiny_model_dir.resolve())
    with Store(tmp_path / "evalkit-home" / "evalkit.db") as store:
        stored = store.get_lineage(resolve_model(str(output)).fingerprint)
    assert stored is not None and record_from_store(stored).dropped_rows == {"too_long": 1}

    merged = tmp_path / "merged"
    done = run_cli("merge", "--adapter", str(output), "--out", str(merged), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((merged / "config.json").read_text())["architectures"] == ["LlamaForSequenceClassification"]
    merge_record = read_lineage(merged)
    assert merge_record is not None and (merge_record.kind, merge_record.method) == ("merge", "reward")
