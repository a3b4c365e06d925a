"""``evalkit merge`` on real tiny models: merged log-likelihoods equal the adapter's, the dequantized
QLoRA merge, the saved template and end-of-turn ids, and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from evalkit.errors import UserError
from evalkit.harness.lineage import LineageRecord, read_lineage, write_lineage
from evalkit.harness.merge import DEQUANTIZED, RELOAD, adapter_source, end_of_turn_ids, merge_adapter
from evalkit.models.resolve import resolve_model
from evalkit.store import Store
from tests.conftest import run_cli

PAIRS = [
    ("The lighthouse keeper climbed the stairs", " every evening at dusk."),
    ("Paris is the capital of", " France"),
    ("Question: what is two plus two?\nAnswer:", " four"),
    ("Once upon a time, in a land far away, there lived a", " dragon"),
]
# A zephyr-style template whose turns end with <|endoftext|> (not the tokenizer's EOS <|im_end|>).
ZEPHYR_LIKE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def make_adapter(base: Path, out: Path, seed: int = 1, targets: tuple[str, ...] = ("q_proj", "v_proj", "down_proj"),
                 base_field: str | None = "same") -> Path:
    """A LoRA adapter for ``base`` with random A *and* B (the default B = 0 would be a no-op)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=list(targets), init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    if base_field is None:
        adapter_config.pop("base_model_name_or_path", None)
    else:
        adapter_config["base_model_name_or_path"] = str(base) if base_field == "same" else base_field
    (out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    return out


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter"))


def direct_loglikelihoods(model: torch.nn.Module, tokenizer: object) -> list[float]:
    """log P(continuation | context), one unpadded forward pass per pair (independent of evalkit)."""
    out = []
    for context, continuation in PAIRS:
        ctx, cont = tokenizer.encode(context), tokenizer.encode(continuation)  # type: ignore[attr-defined]
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].float(), dim=-1)
        positions = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
        out.append(float(logprobs[positions, torch.tensor(cont)].sum()))
    return out


def engine_loglikelihoods(model: str) -> list[float]:
    """The same numbers through evalkit's engine, as `evalkit run --model MODEL` computes them."""
    from evalkit.engine.loading import load_backend
    from evalkit.engine.requests import Loglikelihood
    from tests.conftest import collect_responses

    backend = load_backend(resolve_model(model), device="cpu", dtype="float32", batch_size=2)
    return [r[0] for r in collect_responses(backend.loglikelihood, [Loglikelihood(c, x) for c, x in PAIRS])]


def test_merged_model_scores_like_the_adapter_on_its_base(adapter_dir: Path, tiny_model_dir: Path,
                                                          tmp_path: Path, evalkit_env: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    proc = run_cli("merge", "--adapter", str(adapter_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

    # The reference: PEFT running the adapter unmerged on the base.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    base_lls = direct_loglikelihoods(base, tokenizer)
    unmerged = direct_loglikelihoods(PeftModel.from_pretrained(base, str(adapter_dir)).eval(), tokenizer)
    merged = engine_loglikelihoods(str(out))
    assert merged == pytest.approx(unmerged, abs=1e-4, rel=0)
    assert merged == pytest.approx(engine_loglikelihoods(str(adapter_dir)), abs=1e-4, rel=0)
    assert max(abs(m - b) for m, b in zip(merged, base_lls)) > 1e-2  # the adapter did change the model

    # Lineage: in the folder and in the store, keyed as `evalkit run` keys the models.
    record = read_lineage(out)
    adapter_fp = resolve_model(str(adapter_dir)).fingerprint
    assert record is not None and record.kind == "merge" and record.merge_mode == RELOAD
    assert record.parent_fingerprint == adapter_fp and record.parent_model == str(adapter_dir.resolve())
    assert record.config["dtype"] == "float32" and record.config["dequantize"] is False
    assert record.versions["peft"] and record.versions["transformers"]
    merged_fp = resolve_model(str(out)).fingerprint
    with Store(evalkit_env / "evalkit.db") as store:
        stored = store.get_lineage(merged_fp)
        assert stored is not None and stored["parent_fingerprint"] == adapter_fp and stored["merge_mode"] == RELOAD
        assert store.get_model(merged_fp)["parent_fingerprint"] == adapter_fp  # type: ignore[index]
        base_fp = resolve_model(str(tiny_model_dir)).fingerprint
        assert store.get_model(adapter_fp)["parent_fingerprint"] == base_fp  # type: ignore[index]


def test_dequantized_merge_adds_the_update_to_the_4bit_weights(adapter_dir: Path, tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    source = adapter_source(adapter_dir)
    record = merge_adapter(source, tmp_path / "dq", dequantize=True)
    assert record.merge_mode == DEQUANTIZED and read_lineage(tmp_path / "dq") == record
    assert record.config["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                             "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "float32"}
    reload = merge_adapter(source, tmp_path / "reload")

    # Independently: quantize the base as QLoRA does, dequantize, add scale * B @ A by hand.
    quantized = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, quantization_config=(
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.float32)))
    dequantized = quantized.dequantize(dtype=torch.float32).state_dict()
    lora = load_file(adapter_dir / "adapter_model.safetensors")
    prefix = "base_model.model.model.layers.1.self_attn.q_proj"
    delta = (8 / 4) * lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"]
    name = "model.layers.1.self_attn.q_proj.weight"
    merged = load_file(tmp_path / "dq" / "model.safetensors")
    torch.testing.assert_close(merged[name], dequantized[name] + delta, atol=1e-5, rtol=0)
    original = load_file(tmp_path / "reload" / "model.safetensors")
    assert (merged[name] - original[name]).abs().max() > 1e-3  # 4-bit rounding: not the 16/32-bit merge
    assert reload.merge_mode == RELOAD
    assert engine_loglikelihoods(str(tmp_path / "dq"))  # loads and scores with the engine


def test_dequantize_follows_the_training_config_and_refuses_a_plain_lora(adapter_dir: Path, tmp_path: Path,
                                                                          tiny_model_dir: Path) -> None:
    import shutil

    qlora = shutil.copytree(adapter_dir, tmp_path / "qlora")
    quant = {"load_in_4bit": True, "bnb_4bit_quant_type": "fp4", "bnb_4bit_use_double_quant": False,
             "bnb_4bit_compute_dtype": "float32"}
    write_lineage(qlora, LineageRecord("train", "sft", "qlora", str(tiny_model_dir), "f" * 64,
                                       config={"quantization": quant}))
    record = merge_adapter(adapter_source(qlora), tmp_path / "out", dequantize=True)
    assert record.config["quantization"] == quant and record.method == "sft" and record.adapter == "qlora"

    lora = shutil.copytree(adapter_dir, tmp_path / "lora")
    write_lineage(lora, LineageRecord("train", "sft", "lora", str(tiny_model_dir), "f" * 64))
    with pytest.raises(UserError, match="without --dequantize"):
        merge_adapter(adapter_source(lora), tmp_path / "out2", dequantize=True)
    assert not (tmp_path / "out2").exists()


def test_the_adapters_template_is_saved_and_every_end_of_turn_id_stops_generation(
        adapter_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    templated = shutil.copytree(adapter_dir, tmp_path / "templated")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = ZEPHYR_LIKE
    tokenizer.save_pretrained(templated)  # as training saves the tokenizer beside the adapter
    merge_adapter(adapter_source(templated), tmp_path / "out")

    saved = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert saved.chat_template == ZEPHYR_LIKE
    end_of_turn, eos = tokenizer.convert_tokens_to_ids("<|endoftext|>"), tokenizer.eos_token_id
    assert end_of_turn != eos
    assert GenerationConfig.from_pretrained(tmp_path / "out").eos_token_id == [end_of_turn, eos]

    # Without a template of its own the adapter merges with the base's (ChatML: <|im_end|> is the EOS).
    merge_adapter(adapter_source(adapter_dir), tmp_path / "plain")
    base_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "plain")
    assert base_tokenizer.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert GenerationConfig.from_pretrained(tmp_path / "plain").eos_token_id == [eos]
    assert end_of_turn_ids(base_tokenizer, known=[eos, 7]) == [eos, 7]


def test_an_adapter_without_a_usable_base_is_one_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    missing = make_adapter(tiny_model_dir, tmp_path / "no-base", base_field=None)
    with pytest.raises(UserError, match=r"no base_model_name_or_path.*--base MODEL"):
        adapter_source(missing)
    gone = make_adapter(tiny_model_dir, tmp_path / "gone", base_field=str(tmp_path / "deleted-base"))
    with pytest.raises(UserError, match=r"deleted-base.*not usable.*--base MODEL"):
        adapter_source(gone)
    # --base rescues it, with the fingerprint `evalkit run` would give the adapter on that base.
    rescued = adapter_source(gone, str(tiny_model_dir))
    assert rescued.base.path == tiny_model_dir.resolve()
    same = make_adapter(tiny_model_dir, tmp_path / "same")
    assert adapter_source(same).fingerprint == resolve_model(str(same)).fingerprint
    with pytest.raises(UserError, match="not a PEFT adapter"):
        adapter_source(tiny_model_dir)
    # A base without tokenizer files, and none beside the adapter: refused before any weights load.
    bare = tmp_path / "bare-base"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).symlink_to(tiny_model_dir / name)
    with pytest.raises(UserError, match="no tokenizer there nor in its base"):
        merge_adapter(adapter_source(rescued.path, str(bare)), tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_cli_refuses_a_non_empty_out_and_a_bad_adapter_in_one_line(adapter_dir: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    proc = run_cli("merge", "--adapter", str(adapter_dir), "--out", str(busy))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not an empty folder" in proc.stderr
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    missing = tmp_path / "no-base"
    missing.mkdir()
    (missing / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    proc = run_cli("merge", "--adapter", str(missing), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "base_model_name_or_path" in proc.stderr and not (tmp_path / "o").exists()
