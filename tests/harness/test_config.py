"""The training config: typed, validated once, every problem one ``file:line:col: field: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.harness.config import TrainConfig, evalkit_trainer_defaults, load_train_config, trainer_config_class
from tests.harness.bad_configs import BAD_CONFIGS, expected_prefix, write_bad_config

DATA = "dataset: {path: data.jsonl}\n"


def load_text(tmp_path: Path, text: str) -> tuple[TrainConfig, Path]:
    (tmp_path / "train.yaml").write_text(text)
    return load_train_config(tmp_path / "train.yaml")


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert "\n" not in str(info.value) and info.value.exit_code == 2
    return info.value


@pytest.fixture(scope="module")
def causal_lm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder as the config checks see one (its config.json only): a causal LM, not a reward model."""
    folder = tmp_path_factory.mktemp("causal-lm")
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "pad_token_id": 2}')
    return folder


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_each_bad_config_gives_one_located_error(name: str, tmp_path: Path, causal_lm_folder: Path) -> None:
    case = BAD_CONFIGS[name]
    path = write_bad_config(tmp_path, case, causal_lm_folder)
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    message = str(info.value)
    assert message.startswith(expected_prefix(path, case)), message
    assert case[4] in message
    assert "\n" not in message and info.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "train.yaml"]  # nothing written


@pytest.mark.parametrize(("text", "line", "field", "fragment"), [
    ("trainer:\n  output_dir: out\n", 5, "trainer.output_dir", "evalkit sets output_dir itself: it is the --output"),
    ("trainer:\n  seed: 3\n", 5, "trainer.seed", "set `seed:` at the top level"),
    ("trainer:\n  learning_rate: 1e-4\n", 5, "trainer.learning_rate",
     "expected a number, got '1e-4' (YAML reads 1e-4 as text; write it with a dot, e.g. 1.0e-04)"),
    ("trainer:\n  max_steps: many\n", 5, "trainer.max_steps", "expected an integer, got 'many'"),
    ("trainer:\n  beta: 0.1\n", 5, "trainer.beta", "not a field of TRL's SFTConfig"),  # a DPO field
    ("adapter: lora\nquantization: {}\n", 5, "quantization", "a quantization block needs adapter: qlora"),
    ("adapter: qlora\nquantization: {load_in_4bit: false}\n", 5, "quantization.load_in_4bit",
     "adapter: qlora loads the base in 4-bit; for a 16/32-bit base use adapter: lora, got False"),
    ("lora: {target_modules: all}\n", 4, "lora.target_modules", "input should be"),
    ("chat_template: templates/mine.jinja\n", 4, "chat_template", "no such file"),
])
def test_field_errors(tmp_path: Path, text: str, line: int, field: str, fragment: str) -> None:
    err = error_of(tmp_path, "method: sft\nmodel: m\n" + DATA + text)
    assert (err.line, err.field) == (line, field), str(err)
    assert fragment in err.message, str(err)


def test_dataset_errors_are_located_inside_the_block(tmp_path: Path) -> None:
    err = error_of(tmp_path, "method: dpo\nmodel: m\ndataset:\n  path: d.jsonl\n  eval_split: test\n"
                             "  eval_fraction: 0.1\n")
    assert (err.line, err.field, err.message) == (6, "dataset.eval_fraction", "give eval_split or eval_fraction, "
                                                                             "not both, got 0.1")
    err = error_of(tmp_path, "method: dpo\nmodel: m\ndataset:\n  path: d.jsonl\n  filter:\n"
                             "    - {column: a, op: '=', value: 1}\n")
    assert (err.line, err.field) == (6, "dataset.filter[0].op")
    assert "'=='" in err.message
    err = error_of(tmp_path, "method: dpo\nmodel: m\ndataset:\n  path: d.jsonl\n  colums: {a: b}\n")
    assert (err.line, err.field) == (5, "dataset.colums") and "unknown field for this section" in err.message


def test_a_dpo_trainer_field_is_checked_against_dpo_config(tmp_path: Path) -> None:
    config, _ = load_text(tmp_path, "method: dpo\nmodel: m\n" + DATA + "trainer: {beta: 0.2, max_steps: 3}\n")
    assert config.trainer == {"beta": 0.2, "max_steps": 3}
    err = error_of(tmp_path, "method: dpo\nmodel: m\n" + DATA + "trainer: {packing: true}\n")
    assert "not a field of TRL's DPOConfig (method: dpo)" in err.message


def test_reward_and_online_configs(tmp_path: Path) -> None:
    config, _ = load_text(tmp_path, "method: reward\nmodel: m\n" + DATA
                          + "trainer: {center_rewards_coefficient: 0.01}\n")
    assert config.method == "reward" and config.trainer == {"center_rewards_coefficient": 0.01}
    assert trainer_config_class("reward").__name__ == "RewardConfig"
    config, _ = load_text(tmp_path, "method: rloo\nmodel: m\nreward_model: not/made/yet\n" + DATA
                          + "trainer: {max_completion_length: 16}\n")
    assert config.reward_model == "not/made/yet"  # a later step's output: checked when training needs it
    err = error_of(tmp_path, "method: grpo\nmodel: m\nreward_model: rm\n" + DATA + "trainer: {max_length: 64}\n")
    assert err.field == "trainer.max_length" and "not a field of TRL's GRPOConfig" in err.message
    assert "max_completion_length" in err.message  # the close match
    err = error_of(tmp_path, "method: grpo\nmodel: m\nreward_model: rm\n" + DATA + "trainer: {max_lenght: 64}\n")
    assert "not a field of TRL's GRPOConfig (method: grpo)" in err.message


def test_adapter_blocks_get_their_defaults(tmp_path: Path) -> None:
    qlora, base = load_text(tmp_path, "method: sft\nmodel: m\nadapter: qlora\n" + DATA)
    assert base == tmp_path
    assert qlora.lora is not None and qlora.lora.target_modules == "all-linear"
    assert qlora.quantization is not None
    assert (qlora.quantization.bnb_4bit_quant_type, qlora.quantization.bnb_4bit_use_double_quant) == ("nf4", True)
    lora, _ = load_text(tmp_path, "method: sft\nmodel: m\n" + DATA + "lora: {r: 4, target_modules: [q_proj]}\n")
    assert lora.adapter == "lora" and lora.lora is not None and lora.lora.r == 4 and lora.quantization is None
    full, _ = load_text(tmp_path, "method: sft\nmodel: m\nadapter: none\n" + DATA)
    assert full.lora is None and full.quantization is None


def test_error_at_locates_later_problems_in_the_file(tmp_path: Path) -> None:
    config, _ = load_text(tmp_path, "method: sft\nmodel: m\n" + DATA)
    err = config.error_at("model", "has no chat template")
    assert str(err) == f"{tmp_path / 'train.yaml'}:2:1: model: has no chat template"
    in_code = TrainConfig(method="sft", model="m", dataset={"path": "d.jsonl"})  # type: ignore[arg-type]
    assert str(in_code.error_at("model", "x")) == "model: x"


@pytest.mark.parametrize("method", ["sft", "dpo", "reward", "grpo", "rloo"])
def test_the_defaults_are_real_trl_fields_that_trl_accepts(method: str, tmp_path: Path) -> None:
    defaults = evalkit_trainer_defaults(method, True, "messages", True)  # type: ignore[arg-type]
    cls = trainer_config_class(method)  # type: ignore[arg-type]
    args = cls(output_dir=str(tmp_path / "out"), **defaults)
    assert args.use_cpu and not args.bf16 and args.report_to in ("none", [])
    assert args.logging_steps == 1 and args.save_steps == 25
    if method == "sft":
        assert not args.packing and args.assistant_only_loss
    if method in ("grpo", "rloo"):  # two completions per prompt: a batch of 2 holds one group
        assert args.num_generations == 2 and args.per_device_train_batch_size == 2
    assert not (tmp_path / "out").exists()
    assert "use_cpu" not in evalkit_trainer_defaults(method, on_cpu=False)  # type: ignore[arg-type]
    # Assistant-only loss only where there are assistant turns to mask.
    assert "assistant_only_loss" not in evalkit_trainer_defaults(method, True, "text")  # type: ignore[arg-type]
