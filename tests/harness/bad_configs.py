"""Bad training configs, each with the one ``file:line:col: field: message`` error it must give.

Shared by the config tests (through :func:`~evalkit.harness.config.load_train_config`) and the CLI
tests of ``evalkit train`` (exit code 2, one line, nothing written): write a case with
:func:`write_bad_config`, run the command, check it with :func:`assert_one_config_error`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import write_jsonl

GOOD_DATA = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}] * 4
# (config text, line, column, field, a fragment of the message); {model} is the model folder.
BAD_CONFIGS: dict[str, tuple[str, int, int, str, str]] = {
    "unknown_key": ("method: sft\nmodel: {model}\ndataset: {{path: data.jsonl}}\noptimiser: adamw\n",
                    4, 1, "optimiser", "unknown field for a training config (known: adapter, chat_template"),
    "duplicate_key": ("method: sft\nmodel: {model}\nmethod: dpo\ndataset: {{path: data.jsonl}}\n",
                      3, 1, "method", "duplicate key"),
    "misspelled_trainer_field": ("method: sft\nmodel: {model}\ndataset: {{path: data.jsonl}}\ntrainer:\n"
                                 "  learning_rat: 1.0e-4\n",
                                 5, 3, "trainer.learning_rat", "not a field of TRL's SFTConfig (method: sft); "
                                                               "did you mean learning_rate"),
    "unknown_method": ("method: ppo\nmodel: {model}\ndataset: {{path: data.jsonl}}\n",
                       1, 1, "method", "input should be 'sft', 'dpo', 'reward', 'grpo' or 'rloo', got 'ppo'"),
    "lora_block_without_adapter": ("method: sft\nmodel: {model}\nadapter: none\nlora: {{r: 8}}\n"
                                   "dataset: {{path: data.jsonl}}\n",
                                   4, 1, "lora", "a lora block needs adapter: lora or qlora (this config has "
                                                 "adapter: none)"),
    "missing_dataset": ("method: sft\nmodel: {model}\n", 1, 1, "dataset", "required field is missing"),
    # reward models and the online methods that optimise against them
    "reward_with_a_dpo_field": ("method: reward\nmodel: {model}\ndataset: {{path: data.jsonl}}\ntrainer:\n"
                                "  beta: 0.1\n",
                                5, 3, "trainer.beta", "not a field of TRL's RewardConfig (method: reward)"),
    "reward_lora_on_the_head": ("method: reward\nmodel: {model}\nlora:\n  target_modules: [q_proj, score]\n"
                                "dataset: {{path: data.jsonl}}\n",
                                4, 3, "lora.target_modules", "score is the reward head, newly initialised: it is "
                                                             "trained whole"),
    "reward_sets_the_pad_token": ("method: reward\nmodel: {model}\ndataset: {{path: data.jsonl}}\ntrainer:\n"
                                  "  pad_token: <pad>\n",
                                  5, 3, "trainer.pad_token", "evalkit sets the pad token"),
    "reward_model_on_dpo": ("method: dpo\nmodel: {model}\nreward_model: rm\ndataset: {{path: data.jsonl}}\n",
                            3, 1, "reward_model", "reward_model is for method grpo or rloo"),
    "grpo_without_reward_model": ("method: grpo\nmodel: {model}\ndataset: {{path: data.jsonl}}\n",
                                  1, 1, "method", "method: grpo needs reward_model: PATH"),
    "grpo_with_max_length": ("method: grpo\nmodel: {model}\nreward_model: rm\nmax_length: 64\n"
                             "dataset: {{path: data.jsonl}}\n",
                             4, 1, "max_length", "grpo generates its completions: set trainer.max_completion_length"),
    "grpo_reward_model_not_a_classifier": ("method: grpo\nmodel: {model}\nreward_model: {model}\n"
                                           "dataset: {{path: data.jsonl}}\n",
                                           3, 1, "reward_model", "checkpoint, not a sequence-classification reward "
                                                                 "model"),
    "unknown_chat_template": ("method: sft\nmodel: {model}\nchat_template: alpaca\ndataset: {{path: data.jsonl}}\n",
                              3, 1, "chat_template", "unknown chat template 'alpaca' (shipped: chatml, zephyr"),
}
# Found once the tokenizer is read (before the model loads): evalkit train must report it the same way.
BASE_WITHOUT_TEMPLATE = ("method: sft\nadapter: lora\nmodel: {model}\ndataset: {{path: data.jsonl}}\n",
                         3, 1, "model", "has no chat template of its own; set chat_template: to zephyr")


def write_bad_config(folder: Path, case: tuple[str, int, int, str, str], model: Path | str) -> Path:
    """``folder/train.yaml`` for ``case`` (with a valid ``folder/data.jsonl`` beside it)."""
    write_jsonl(folder / "data.jsonl", GOOD_DATA)
    path = folder / "train.yaml"
    path.write_text(case[0].format(model=model))
    return path


def model_without_template(model_dir: Path, out: Path) -> Path:
    """A copy of ``model_dir`` whose tokenizer has no chat template (as a base model's)."""
    shutil.copytree(model_dir, out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    return out


def expected_prefix(path: Path, case: tuple[str, int, int, str, str]) -> str:
    """``file:line:col: field: `` as the error must start."""
    return f"{path}:{case[1]}:{case[2]}: {case[3]}: "


def assert_one_config_error(proc: subprocess.CompletedProcess[str], path: Path,
                            case: tuple[str, int, int, str, str]) -> None:
    """The command exited 2 with exactly one stderr line ``file:line:col: field: ...fragment...``."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(expected_prefix(path, case)), lines[0]
    assert case[4] in lines[0], lines[0]
