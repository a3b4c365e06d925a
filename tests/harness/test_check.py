"""``evalkit train --check``: every shipped config passes offline, the rows kept and dropped are counted as
training would count them, problems are one located line (exit 2), and nothing is written or loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import ConfigError, UserError
from evalkit.harness.check import check_config
from evalkit.parity.mirror import build_mirror
from tests.conftest import REPO, SHARED_DATA, run_cli, write_jsonl
from tests.harness.reward_data import toy_pairs
from tests.harness.train_script import CHATML, conversations

CONFIGS = sorted((REPO / "harness" / "configs").rglob("*.yaml"))
DEMO_CONFIGS = sorted((REPO / "harness" / "configs").glob("*.yaml"))


def test_the_shipped_configs_are_there() -> None:
    names = {p.relative_to(REPO / "harness" / "configs").as_posix() for p in CONFIGS}
    assert {"sft_qlora.yaml", "dpo_qlora.yaml", "chapter/1_sft_qlora.yaml", "chapter/2_dpo_qlora.yaml",
            "chapter/3_reward_qlora.yaml", "chapter/4_grpo_qlora.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(REPO / "harness" / "configs").as_posix())
def test_every_shipped_config_passes_offline_and_names_no_local_data(path: Path) -> None:
    text = path.read_text()
    assert "shared/data" not in text  # a user's clone has no ../shared/data
    report = check_config(path)
    assert report.render().startswith(f"{path}: ok")
    config_lines = [line for line in report.lines if line.startswith("data not checked: hub dataset ")]
    assert len(config_lines) == 1, report.lines  # every shipped config names a hub dataset


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared data folder {SHARED_DATA} is absent")
    return build_mirror(SHARED_DATA, tmp_path_factory.mktemp("mirror"))


@pytest.mark.parametrize("path", DEMO_CONFIGS, ids=lambda p: p.name)
def test_the_demo_configs_data_checks_through_the_mirror(path: Path, mirror: Path) -> None:
    report = check_config(path, mirror)
    assert report.data_checked and report.rows is not None and report.rows.rows > 0
    assert not any(line.startswith("data not checked") for line in report.lines)


def _folder(tmp_path: Path, config: str, rows: list[dict]) -> Path:
    write_jsonl(tmp_path / "data.jsonl", rows)
    (tmp_path / "chatml.jinja").write_text(CHATML)
    (tmp_path / "train.yaml").write_text(config)
    return tmp_path / "train.yaml"


def test_rows_kept_and_dropped_by_filter_and_select(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{**row, "score": i} for i, row in enumerate(conversations(8))]  # scores 0..7
    path = _folder(tmp_path, f"method: sft\nmodel: {tiny_model_dir}\nchat_template: chatml.jinja\nmax_length: 20\n"
                             "dataset:\n  path: data.jsonl\n  filter: [{column: score, op: '>=', value: 2}]\n"
                             "  select: 5\n  eval_fraction: 0.2\n", rows)
    before = sorted(p.name for p in tmp_path.iterdir())
    report = check_config(path)
    # 8 read, 2 below the threshold, 5 selected of the 6 left, 1 of them held out
    assert "rows: 8 read, 2 dropped by filter, 4 to train on, 1 held out for eval (messages, conversational)" \
        in report.lines
    assert "chat template: chatml.jinja" in report.lines
    assert report.too_long == 4  # every conversation is over 20 tokens with the template: truncated, not dropped
    assert "by length: none dropped; 4 of 4 rows longer than 20 tokens, which TRL truncates (keep_start)" \
        in report.lines
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert not (tmp_path / "evalkit-home").exists()  # not even the results store


def test_a_reward_config_counts_the_pairs_training_leaves_out(tiny_model_dir: Path, tmp_path: Path) -> None:
    pairs = toy_pairs(5, seed=0)
    pairs[1] = {**pairs[1], "chosen": [{"role": "assistant", "content": " ".join(["word"] * 80)}]}
    path = _folder(tmp_path, f"method: reward\nmodel: {tiny_model_dir}\nchat_template: chatml.jinja\n"
                             "max_length: 64\ndataset: {path: data.jsonl}\n", pairs)
    report = check_config(path)
    assert report.too_long == 1
    assert "by length: 1 of 5 pairs longer than 64 tokens (chosen or rejected), left out by TRL's RewardTrainer; " \
           "4 train" in report.lines
    (tmp_path / "train.yaml").write_text(path.read_text().replace("max_length: 64", "max_length: 8"))
    with pytest.raises(ConfigError, match="every one of the 5 training pairs is longer than max_length") as info:
        check_config(path)
    assert info.value.line == 4 and info.value.field == "max_length"


def test_data_problems_are_one_line_naming_the_row(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = _folder(tmp_path, f"method: dpo\nmodel: {tiny_model_dir}\ndataset: {{path: data.jsonl}}\n",
                   [*toy_pairs(2, seed=0), {"prompt": "hi", "chosen": "yes"}])
    with pytest.raises(UserError, match=r"data.jsonl:3: column 'rejected': missing"):
        check_config(path)


def test_a_model_not_made_yet_and_a_reward_model_that_is_not_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = _folder(tmp_path, "method: grpo\nmodel: runs/sft-merged\nreward_model: runs/reward\n"
                             "dataset: {path: data.jsonl}\n", [{"prompt": "Say hi."}])
    report = check_config(path)
    assert any(line.startswith("model not checked: runs/sft-merged is not a folder here") for line in report.lines)
    assert any(line.startswith("reward model not checked: ") for line in report.lines)
    assert "rows: 1 read, 0 dropped by filter, 1 to train on (prompt, text)" in report.lines

    (tmp_path / "train.yaml").write_text(path.read_text().replace("runs/reward", str(tiny_model_dir)))
    with pytest.raises(ConfigError, match="LlamaForCausalLM checkpoint, not a sequence-classification") as info:
        check_config(path)
    assert (info.value.line, info.value.field) == (3, "reward_model")


def test_a_reward_lora_on_a_model_with_a_head_peft_trains(tiny_model_dir: Path) -> None:
    """The head check builds the classifier on the meta device: the tiny Llama's head is ``score``."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from evalkit.harness.model_loading import score_head_name

    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(tiny_model_dir,
                                                                                          num_labels=1))
    assert score_head_name(model) == "score"
    assert all(p.is_meta for p in model.parameters())  # no weights were read or allocated


def test_cli_check_prints_the_report_or_one_located_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = _folder(tmp_path, f"method: reward\nmodel: {tiny_model_dir}\nchat_template: chatml.jinja\n"
                             "dataset: {path: data.jsonl}\n", toy_pairs(3, seed=0))
    done = run_cli("train", "--check", str(path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0] == f"{path}: ok"
    assert "by length: 0 of 3 pairs longer than 1024 tokens" in done.stdout  # TRL's default max_length

    (tmp_path / "train.yaml").write_text(path.read_text() + "trainer: {beta: 0.1}\n")
    done = run_cli("train", "--check", str(path))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"{path}:5:11: trainer.beta: not a field of TRL's RewardConfig (method: reward)"]
    assert not (tmp_path / "evalkit-home").exists()
