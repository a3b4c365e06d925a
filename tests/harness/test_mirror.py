"""The training data sets of the ``--data-root`` mirror (evalkit.parity.mirror) from ../shared/data: each
in its hub dataset's schema, and the shipped configs reading through it the rows the shared files hold."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.harness.config import load_train_config
from evalkit.harness.data import prepare_rows
from evalkit.parity.mirror import build_mirror, orca_pairs_as_intel, write_training_sets
from tests.conftest import REPO, SHARED_DATA, write_jsonl

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the shared data folder {SHARED_DATA} is absent")
CONFIGS = REPO / "harness" / "configs"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared data folder {SHARED_DATA} is absent")
    return build_mirror(SHARED_DATA, tmp_path_factory.mktemp("mirror"))


@needs_shared
def test_the_training_sets_are_in_their_hub_schemas(mirror: Path) -> None:
    ultrachat = mirror / "HuggingFaceH4/ultrachat_200k/train_sft.jsonl"
    assert ultrachat.is_symlink() and ultrachat.resolve() == (SHARED_DATA / "sft/ultrachat_small_1000.jsonl").resolve()

    orca = [json.loads(line) for line in (mirror / "Intel/orca_dpo_pairs/train.jsonl").read_text().splitlines()]
    source = [json.loads(line) for line in
              (SHARED_DATA / "dpo/orca_dpo_pairs_validation.pcr.jsonl").read_text().splitlines()]
    assert len(orca) == len(source) == 284
    assert set(orca[0]) == {"system", "question", "chosen", "rejected"}  # Intel/orca_dpo_pairs' columns
    assert [r["question"] for r in orca] == [r["prompt"] for r in source]

    hh = mirror / "Anthropic/hh-rlhf/harmless-base/test.jsonl"
    with gzip.open(SHARED_DATA / "dpo/hh_rlhf_harmless_base_test.jsonl.gz", "rb") as fh:
        assert hh.read_bytes() == fh.read()  # the hub repository's file, byte for byte
    assert set(json.loads(hh.read_text().splitlines()[0])) == {"chosen", "rejected"}


@needs_shared
@pytest.mark.parametrize("name", ["sft_qlora.yaml", "dpo_qlora.yaml"])
def test_the_demo_configs_read_the_rows_the_shared_files_hold(name: str, mirror: Path, tmp_path: Path) -> None:
    """Through the mirror, the demo's configs (now naming hub ids) prepare the very rows they prepared when
    they named the shared files."""
    config, base_dir = load_train_config(CONFIGS / name)
    through_mirror = prepare_rows(config, base_dir, mirror)
    old_file = {"sft_qlora.yaml": "sft/ultrachat_small_1000.jsonl",
                "dpo_qlora.yaml": "dpo/orca_dpo_pairs_validation.pcr.jsonl"}[name]
    dataset = config.dataset.model_copy(update={"path": str(SHARED_DATA / old_file), "split": "train", "columns": {}})
    direct = prepare_rows(config.model_copy(update={"dataset": dataset}), base_dir)
    assert through_mirror.rows == direct.rows > 0
    assert through_mirror.train.to_list() == direct.train.to_list()


def test_training_sets_from_a_partial_shared_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    write_jsonl(shared / "dpo/orca_dpo_pairs_validation.pcr.jsonl",
                [{"system": "Be brief.", "prompt": "2+2?", "chosen": "4", "rejected": "5"}])
    written = write_training_sets(shared, tmp_path / "mirror")
    assert written == ["Intel/orca_dpo_pairs/train.jsonl"]  # the others are absent: left out, no error
    assert json.loads((tmp_path / "mirror" / written[0]).read_text()) == {
        "system": "Be brief.", "question": "2+2?", "chosen": "4", "rejected": "5"}
    write_jsonl(shared / "bad.jsonl", [{"system": "s", "chosen": "4", "rejected": "5"}])
    with pytest.raises(UserError, match=r"bad.jsonl:1: column 'prompt': missing"):
        orca_pairs_as_intel(shared / "bad.jsonl")
