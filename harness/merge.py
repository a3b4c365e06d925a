"""``evalkit merge``: fold a PEFT adapter into its base and save a checkpoint ``evalkit run`` loads.

Two modes, recorded in the merged folder's lineage as ``merge_mode``:

- ``16-bit reload`` (the default): the base is loaded in ``--dtype`` (16 or 32 bit, never 4-bit)
  and the adapter's update ``B @ A * scale`` is added to its weights. For a QLoRA adapter this
  merges onto the original weights, not the 4-bit ones training saw.
- ``dequantized 4-bit`` (``--dequantize``): the base is quantized as in training (the adapter's
  lineage gives the ``BitsAndBytesConfig``; NF4 with double quantization otherwise), dequantized,
  and only then merged, which is the model QLoRA trained against.

The merged folder gets the weights (safetensors), the tokenizer with the chat template training
used (the adapter's own when it ships one, else the base's), and a generation config whose
``eos_token_id`` lists every end-of-turn id, so generation stops where the template ends a turn.

A reward adapter (``task_type: SEQ_CLS``, from ``method: reward``) merges through the
sequence-classification class: the base is loaded with one label and the pad id of the adapter's
tokenizer, the adapter's trained score head replaces the base's new one, and the merged
``config.json`` names ``*ForSequenceClassification`` with ``num_labels`` 1 and ``pad_token_id`` set
(a classifier generates nothing: it gets no generation config).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import UserError
from evalkit.harness.lineage import LineageRecord, library_versions, read_lineage, record_in_store, write_lineage

if TYPE_CHECKING:
    from evalkit.harness.config import QuantizationSettings
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store

MergeDtype = Literal["float32", "bfloat16", "float16"]
RELOAD = "16-bit reload"
DEQUANTIZED = "dequantized 4-bit"
# Rendered to find the tokens a template puts after an assistant turn (its end-of-turn marker).
_PROBE = [{"role": "user", "content": "evalkit-probe-question"},
          {"role": "assistant", "content": "evalkit-probe-answer"}]


@dataclass(frozen=True)
class AdapterSource:
    """An adapter folder checked for merging: where it is, its base, and its fingerprint."""

    path: Path
    base: ModelRef
    fingerprint: str  # as ``evalkit run --model ADAPTER`` records it
    lineage: LineageRecord | None
    task_type: str | None = None  # PEFT's: CAUSAL_LM, or SEQ_CLS for a reward model


def check_output_dir(out: Path) -> None:
    """``--out`` must not exist or be an empty folder (a merge never mixes with other files)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty folder; choose a new one")


def adapter_source(adapter: Path, base: str | None = None, *, advice: str = "pass --base MODEL") -> AdapterSource:
    """Check ``adapter`` and resolve its base (``base`` if given, else its ``base_model_name_or_path``).

    An unusable base is a :class:`UserError` that says so and ends with ``advice``.
    """
    from evalkit.models.fingerprint import folder_fingerprint, text_fingerprint
    from evalkit.models.resolve import resolve_model

    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise UserError(f"--adapter {adapter}: no adapter_config.json there (not a PEFT adapter folder)")
    try:
        adapter_config = json.loads(config_file.read_text())
        declared, task_type = adapter_config.get("base_model_name_or_path"), adapter_config.get("task_type")
    except (ValueError, AttributeError) as exc:
        raise UserError(f"{config_file}: not a PEFT adapter config ({exc})") from None
    if base is None:
        if not isinstance(declared, str) or not declared.strip():
            raise UserError(f"{config_file}: no base_model_name_or_path, so the base model is unknown; {advice}")
        try:
            base_ref = resolve_model(declared)
        except UserError as exc:
            raise UserError(f"{config_file}: base_model_name_or_path {declared!r} is not usable ({exc}); "
                            f"{advice}") from None
    else:
        base_ref = resolve_model(base)
    if base_ref.kind != "hf" or base_ref.path is None:
        raise UserError(f"--adapter {adapter}: its base {base_ref.spec!r} is not a checkpoint "
                        f"({base_ref.kind}); merge that adapter first and train or merge onto the result")
    # The formula of models.resolve for an adapter: the same key `evalkit run --model ADAPTER` records.
    fingerprint = text_fingerprint("peft", folder_fingerprint(adapter), base_ref.fingerprint)
    return AdapterSource(adapter.resolve(), base_ref, fingerprint, read_lineage(adapter), task_type)


def training_quantization(source: AdapterSource) -> QuantizationSettings:
    """The 4-bit settings the adapter was trained against: its lineage's, else QLoRA's defaults."""
    from evalkit.harness.config import QuantizationSettings

    recorded = source.lineage.config.get("quantization") if source.lineage else None
    return QuantizationSettings(**recorded) if isinstance(recorded, dict) else QuantizationSettings()


def end_of_turn_ids(tokenizer: Any, known: int | list[int] | None = None) -> list[int]:
    """Every id that ends an assistant turn: the template's end-of-turn token, the tokenizer's EOS, ``known``."""
    ids: list[int] = []
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(_PROBE, tokenize=False)
        except Exception:  # noqa: BLE001 -- a template refusing the probe: fall back to the EOS ids below
            text = ""
        answer = _PROBE[-1]["content"]
        if answer in text:
            tail = text[text.rindex(answer) + len(answer):]
            special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
            # The first special token after the answer is the marker (<|im_end|>, </s>, <end_of_turn>).
            ids += [i for i in tokenizer.encode(tail, add_special_tokens=False)[:3] if i in special][:1]
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    ids += [known] if isinstance(known, int) else list(known or [])
    return list(dict.fromkeys(ids))  # in order, once each


def merge_adapter(source: AdapterSource, out: Path, *, dtype: MergeDtype = "float32",
                  dequantize: bool = False) -> LineageRecord:
    """Merge ``source`` into its base, save the checkpoint in ``out`` with its lineage, and return the record."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, BitsAndBytesConfig

    check_output_dir(out)
    if dequantize and source.lineage is not None and source.lineage.adapter not in (None, "qlora"):
        raise UserError(f"--dequantize: {source.path} was trained as {source.lineage.adapter!r} on an unquantized "
                        "base (its lineage says so); merge it without --dequantize")
    started = time.perf_counter()
    torch_dtype = getattr(torch, dtype)
    assert source.base.path is not None
    # The tokenizer first: a folder without one fails before the weights load.
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_folder(source))
    if (source.path / "chat_template.jinja").is_file():  # a template shipped without the tokenizer files
        tokenizer.chat_template = (source.path / "chat_template.jinja").read_text(encoding="utf-8")
    quantization = training_quantization(source) if dequantize else None
    reward = source.task_type == "SEQ_CLS"
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if reward:
        if tokenizer.pad_token is None:  # RewardTrainer's fallback at training time
            tokenizer.pad_token = tokenizer.eos_token
        kwargs.update(num_labels=1, pad_token_id=tokenizer.pad_token_id)
    if quantization is not None:
        compute_dtype = getattr(torch, quantization.bnb_4bit_compute_dtype)
        kwargs["quantization_config"] = BitsAndBytesConfig(**{**quantization.model_dump(),
                                                              "bnb_4bit_compute_dtype": compute_dtype})
    model: Any = _load_base(AutoModelForSequenceClassification if reward else AutoModelForCausalLM,
                            source.base.path, kwargs)
    if quantization is not None:
        model = model.dequantize(dtype=torch_dtype)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:  # training added tokens
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(source.path)).merge_and_unload()
    if reward:
        merged.config.pad_token_id = tokenizer.pad_token_id  # where the reward is read: the last non-pad token
    else:
        merged.generation_config.eos_token_id = end_of_turn_ids(tokenizer, merged.generation_config.eos_token_id)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    options = {"adapter": str(source.path), "base": source.base.spec, "base_fingerprint": source.base.fingerprint,
               "dtype": dtype, "dequantize": dequantize,
               "quantization": quantization.model_dump() if quantization else None}
    trained = source.lineage
    record = LineageRecord(
        kind="merge", method=trained.method if trained else None, adapter=trained.adapter if trained else None,
        parent_model=str(source.path), parent_fingerprint=source.fingerprint, config=options,
        merge_mode=DEQUANTIZED if dequantize else RELOAD, wall_s=round(time.perf_counter() - started, 3),
        versions=library_versions())
    write_lineage(out, record)
    return record


def record_merge(store: Store, source: AdapterSource, out: Path, record: LineageRecord) -> str:
    """Record the merged checkpoint, and the adapter and base it came from, in ``store``; its fingerprint.

    The adapter is registered with its base as parent even when nothing recorded its training
    (an adapter made outside evalkit), so the chain merged → adapter → base is always walkable.
    """
    base = source.base
    store.upsert_model(base.fingerprint, base.name, str(base.path), None, base.metadata())
    store.upsert_model(source.fingerprint, source.path.name, str(source.path), base.fingerprint,
                       {"spec": str(source.path), "kind": "peft", "base": base.spec})
    return record_in_store(store, out, record)


def _load_base(cls: Any, path: Path, kwargs: dict[str, Any]) -> Any:
    if cls.__name__ != "AutoModelForSequenceClassification":
        return cls.from_pretrained(path, **kwargs)
    from trl.trainer.reward_trainer import suppress_seqcls_warning

    with suppress_seqcls_warning():  # the base's new, random head: the adapter's trained one replaces it
        return cls.from_pretrained(path, **kwargs)


def _tokenizer_folder(source: AdapterSource) -> Path:
    # Training saves its tokenizer (and the template it trained with) beside the adapter.
    assert source.base.path is not None
    for folder in (source.path, source.base.path):
        if (folder / "tokenizer_config.json").is_file():
            return folder
    raise UserError(f"--adapter {source.path}: no tokenizer there nor in its base {source.base.path}; "
                    "save the tokenizer beside the adapter")

