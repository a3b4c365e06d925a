"""``run_training`` on a tiny random Llama: SFT and DPO with full, LoRA and QLoRA weights, each result
loaded by evalkit's engine; the trainer settings, the chat-template checks and the output-folder rules."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from evalkit.engine.loading import load_backend
from evalkit.engine.requests import Loglikelihood
from evalkit.errors import UserError
from evalkit.harness.checkpoints import checkpoint_to_resume, complete_checkpoints
from evalkit.harness.config import TrainConfig
from evalkit.harness.data import PreparedRows
from evalkit.harness.trainer import TRAINER_LOG, run_training, trainer_arguments
from evalkit.models.resolve import resolve_model
from tests.conftest import collect_responses
from tests.harness.train_script import CHATML, conversations


def _preferences(n: int = 6) -> list[dict[str, Any]]:
    return [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}],
             "chosen": [{"role": "assistant", "content": f"{2 * i}"}],
             "rejected": [{"role": "assistant", "content": f"{2 * i + 1}"}]} for i in range(n)]


def _rows(method: str) -> PreparedRows:
    if method == "sft":
        return PreparedRows(Dataset.from_list(conversations(6)), None, "messages", "inline", 6, conversational=True)
    return PreparedRows(Dataset.from_list(_preferences()), None, "preference", "inline", 6)


def _config(method: str, adapter: str, model: Path | str, **trainer: Any) -> TrainConfig:
    return TrainConfig.model_validate({
        "method": method, "model": str(model), "adapter": adapter, "dataset": {"path": "inline"},
        "max_length": 64, "lora": None if adapter == "none" else {"r": 4, "lora_alpha": 8},
        "trainer": {"per_device_train_batch_size": 2, "learning_rate": 1e-3, "gradient_checkpointing": False,
                    **trainer}})


@pytest.mark.parametrize("method", ["sft", "dpo"])
@pytest.mark.parametrize("adapter", ["none", "lora", "qlora"])
def test_train_then_load_with_the_engine(method: str, adapter: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    outcome = run_training(_config(method, adapter, tiny_model_dir), rows=_rows(method), chat_template=CHATML,
                           output=output, max_steps=2, base_dir=tmp_path)

    assert outcome.steps == 2 and outcome.resumed_from is None and outcome.is_main_process
    assert [p["step"] for p in outcome.loss_curve] == [1, 2]
    assert outcome.final_loss == outcome.loss_curve[-1]["loss"] and math.isfinite(outcome.final_loss)
    logged = [json.loads(line) for line in (output / TRAINER_LOG).read_text().splitlines()]
    assert logged == outcome.loss_curve
    # the template trained with travels with the checkpoint
    assert (output / "chat_template.jinja").read_text() == CHATML
    if adapter == "none":
        assert (output / "model.safetensors").is_file() and not (output / "adapter_config.json").exists()
    else:
        adapter_config = json.loads((output / "adapter_config.json").read_text())
        assert adapter_config["peft_type"] == "LORA" and adapter_config["r"] == 4
        assert adapter_config["base_model_name_or_path"] == str(tiny_model_dir.resolve())

    ref = resolve_model(str(output))
    assert ref.kind == ("hf" if adapter == "none" else "peft")
    backend = load_backend(ref, device="cpu", dtype="float32", batch_size=2)
    try:
        [(logprob, _)] = collect_responses(backend.loglikelihood, [Loglikelihood("What is 2 plus 2?", " It is 4.")])
    finally:
        backend.close()
    assert math.isfinite(logprob) and logprob < 0


def test_qlora_loads_the_base_in_4bit_nf4(tiny_model_dir: Path, tmp_path: Path) -> None:
    import bitsandbytes as bnb

    from evalkit.harness.model_loading import load_model, resolve_starting_model

    config = _config("sft", "qlora", tiny_model_dir)
    model = load_model(resolve_starting_model(config, tmp_path), config, dtype="float32",
                       gradient_checkpointing=False)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and all(m.weight.quant_type == "nf4" and m.weight.quant_state.nested for m in layers)
    assert all(not p.requires_grad for p in model.parameters())  # frozen until TRL attaches the LoRA


def test_dpo_with_lora_uses_the_adapter_disabled_policy_as_reference(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.harness.trainer import build_trainer

    config = _config("dpo", "lora", tiny_model_dir)
    rows = _rows("dpo")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = CHATML
    trainer = build_trainer(config, AutoModelForCausalLM.from_pretrained(tiny_model_dir), trainer_arguments(
        config, rows, output=tmp_path / "out", max_steps=1, on_cpu=True), rows, tokenizer)
    assert trainer.ref_model is None  # TRL scores the reference with the adapter disabled: no second copy


def test_trainer_settings_layer_defaults_config_and_flags(tmp_path: Path) -> None:
    config = _config("sft", "lora", "unused", save_steps=3, packing=False)
    args = trainer_arguments(config, _rows("sft"), output=tmp_path / "o", max_steps=7, on_cpu=True)
    assert args.use_cpu and not args.bf16 and not args.packing  # this machine's defaults
    assert args.report_to in ([], "none", ["none"])  # no tracker: nothing leaves the machine
    assert args.save_steps == 3 and args.max_steps == 7 and args.max_length == 64 and args.seed == 42
    assert args.assistant_only_loss  # conversational SFT: the assistant's tokens only, by default
    assert args.output_dir == str(tmp_path / "o") and args.disable_tqdm

    text_rows = PreparedRows(Dataset.from_list([{"text": "a"}]), None, "text", "inline", 1)
    assert not trainer_arguments(config, text_rows, output=tmp_path, max_steps=None, on_cpu=True).assistant_only_loss
    # Asking for it on text rows is refused earlier, at the config's line (tests/harness/test_data.py).


def test_a_template_without_generation_markers_is_refused_before_training(tiny_model_dir: Path,
                                                                           tmp_path: Path) -> None:
    own = json.loads((tiny_model_dir / "tokenizer_config.json").read_text()).get("chat_template") or \
        (tiny_model_dir / "chat_template.jinja").read_text()
    with pytest.raises(UserError, match=r"generation %\} markers.*assistant_only_loss: false"):
        run_training(_config("sft", "lora", tiny_model_dir), rows=_rows("sft"), chat_template=own,
                     output=tmp_path / "out", base_dir=tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_new_lora_on_an_adapter_asks_for_a_merge_first(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir),
                                                             "peft_type": "LORA"}))
    with pytest.raises(UserError, match="is a PEFT adapter: merge it first"):
        run_training(_config("dpo", "lora", adapter), rows=_rows("dpo"), chat_template=CHATML,
                     output=tmp_path / "out", base_dir=tmp_path)


def test_full_dpo_on_an_adapter_folder_trains_base_plus_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # init_lora_weights=False: a non-zero update, so merging it changes the model
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)).save_pretrained(adapter)
    outcome = run_training(_config("dpo", "none", adapter), rows=_rows("dpo"), chat_template=CHATML,
                           output=tmp_path / "out", max_steps=1, base_dir=tmp_path)
    assert outcome.starting_model.ref.kind == "peft" and outcome.steps == 1
    # the first DPO loss is log 2 only if the reference is the policy itself: base + adapter, not the bare base
    assert outcome.loss_curve[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert resolve_model(str(tmp_path / "out")).kind == "hf"


def test_output_folder_rules(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert checkpoint_to_resume(out, None) is None and checkpoint_to_resume(out, False) is None
    with pytest.raises(UserError, match=r"--resume: .* holds no checkpoint"):
        checkpoint_to_resume(out, True)

    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and holds no complete checkpoint"):
        checkpoint_to_resume(out, None)

    for step in (1, 2, 10):
        (out / f"checkpoint-{step}").mkdir()
        (out / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (out / "checkpoint-11").mkdir()  # killed while saving: no trainer state yet
    (out / "checkpoint-12").mkdir()
    (out / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # killed while writing it
    assert [c.name for c in complete_checkpoints(out)] == ["checkpoint-1", "checkpoint-2", "checkpoint-10"]
    assert checkpoint_to_resume(out, None) == out / "checkpoint-10" == checkpoint_to_resume(out, True)
    with pytest.raises(UserError, match=r"--no-resume: .* is not empty"):
        checkpoint_to_resume(out, False)


# -- evalkit train, end to end (needs the config, rows and lineage modules, not just their skeletons) ----------
def _skeletons_pending() -> bool:
    from evalkit.harness.config import load_train_config
    from evalkit.harness.lineage import write_lineage

    def pending(call: Any) -> bool:
        try:
            call()
        except NotImplementedError:
            return True
        except Exception:  # noqa: BLE001 -- implemented: any real error on these bogus inputs
            return False
        return False

    return pending(lambda: load_train_config("/nonexistent/train.yaml")) or \
        pending(lambda: write_lineage(Path("/nonexistent"), None))  # type: ignore[arg-type]


needs_the_whole_harness = pytest.mark.skipif(_skeletons_pending(), reason="load_train_config / prepare_rows / "
                                             "write_lineage are still interface skeletons on this branch")


@needs_the_whole_harness
def test_cli_trains_records_lineage_and_refuses_to_overwrite(tiny_model_dir: Path, tmp_path: Path) -> None:
    from evalkit.harness.lineage import read_lineage
    from tests.conftest import run_cli, write_jsonl

    write_jsonl(tmp_path / "data.jsonl", conversations(6))
    (tmp_path / "chatml.jinja").write_text(CHATML)
    config = tmp_path / "train.yaml"
    config.write_text(f"method: sft\nmodel: {tiny_model_dir}\nadapter: qlora\nchat_template: chatml.jinja\n"
                      "dataset: {path: data.jsonl}\nmax_length: 64\nlora: {r: 4, lora_alpha: 8}\n")
    output = tmp_path / "out"
    done = run_cli("train", str(config), "--output", str(output), "--max-steps", "2", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"sft (qlora) on {tiny_model_dir}: 2 steps" in done.stdout and str(output) in done.stdout

    record = read_lineage(output)
    assert record is not None and record.kind == "train" and record.method == "sft" and record.adapter == "qlora"
    assert record.parent_fingerprint == resolve_model(str(tiny_model_dir)).fingerprint
    assert record.steps == 2 and record.dataset_rows == 6 and len(record.loss_curve) == 2
    assert record.config["trainer"]["max_steps"] == 2 and record.config["quantization"]["bnb_4bit_quant_type"] == "nf4"
    assert {"torch", "transformers", "trl", "peft", "bitsandbytes"} <= record.versions.keys()

    from evalkit.store import Store

    with Store(tmp_path / "evalkit-home" / "evalkit.db") as store:
        trained = resolve_model(str(output))
        assert store.get_lineage(trained.fingerprint)["steps"] == 2  # type: ignore[index]
        assert store.get_model(trained.fingerprint)["parent_fingerprint"] == record.parent_fingerprint  # type: ignore[index]

    again = run_cli("train", str(config), "--output", str(output), "--no-resume")
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"--no-resume: {output} is not empty; remove it or choose another --output"]


@needs_the_whole_harness
def test_cli_bad_configs_give_one_located_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    bad = pytest.importorskip("tests.harness.bad_configs")
    from tests.conftest import run_cli

    cases = {**bad.BAD_CONFIGS, "base_without_template": bad.BASE_WITHOUT_TEMPLATE}
    bare = bad.model_without_template(tiny_model_dir, tmp_path / "bare-model")
    for name, case in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        model = bare if name == "base_without_template" else tiny_model_dir
        path = bad.write_bad_config(folder, case, model)
        done = run_cli("train", str(path), "--output", str(folder / "out"))
        bad.assert_one_config_error(done, path, case)
        assert not (folder / "out").exists(), name  # nothing written
