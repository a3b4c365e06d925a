"""The model a training run starts from: full weights, or a frozen base for LoRA / QLoRA.

``adapter: none`` trains every weight; ``lora`` freezes the base and trains PEFT's ``LoraConfig``;
``qlora`` loads the base in 4-bit through bitsandbytes (``BitsAndBytesConfig``), readies it with PEFT's
``prepare_model_for_kbit_training`` and trains a LoRA on top. The LoRA itself is attached by TRL's
trainer (``peft_config=``), which seeds before it initialises the adapter.

``method: reward`` loads the checkpoint for sequence classification (``AutoModelForSequenceClassification``,
one label, ``pad_token_id`` set so the model finds each sequence's last real token), as TRL's
``RewardTrainer`` would: a causal LM's ``lm_head`` is left out and a new ``score`` head is initialised,
seeded by ``seed:``. Its LoRA is ``task_type: SEQ_CLS``, which makes PEFT train and save that head whole
(``modules_to_save``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError
from evalkit.harness.config import LoraSettings, QuantizationSettings

if TYPE_CHECKING:
    from evalkit.harness.config import TrainConfig
    from evalkit.models.resolve import ModelRef


@dataclass(frozen=True)
class StartingModel:
    """A resolved ``model:`` and how to refer to it from an adapter saved on top of it."""

    ref: ModelRef
    base_reference: str  # what a saved adapter's base_model_name_or_path should say


def resolve_starting_model(config: TrainConfig, base_dir: Path) -> StartingModel:
    """Resolve ``config.model`` (a path relative to the config's folder first, then as ``evalkit run`` does).

    A PEFT adapter folder is accepted for full fine-tuning (merged in memory, the result is a whole
    model); a new LoRA on top of an adapter needs the adapter merged first, since the new adapter's
    base must be a checkpoint on disk.
    """
    from evalkit.models.aliases import ALIASES
    from evalkit.models.resolve import resolve_model

    local = (base_dir / config.model).expanduser()
    spec = str(local) if config.model not in ALIASES and local.exists() else config.model
    ref = resolve_model(spec)
    if ref.kind == "openai":
        raise UserError(f"model {config.model!r}: an endpoint cannot be trained; give a checkpoint, alias or hub id")
    if ref.kind == "peft" and config.method == "reward":
        # A causal-LM adapter merged in memory could not become a sequence classifier without a save and reload.
        raise UserError(f"model {config.model!r} is a PEFT adapter: merge it first (evalkit merge --adapter "
                        f"{config.model} --out DIR), then train the reward model on model: DIR")
    if ref.kind == "peft" and config.adapter != "none":
        raise UserError(f"model {config.model!r} is a PEFT adapter: merge it first (evalkit merge --adapter "
                        f"{config.model} --out DIR), then train the new {config.adapter} on model: DIR")
    # An alias or hub id stays portable in adapter_config.json; a folder is recorded by its absolute path.
    portable = ref.kind == "hf" and ref.path is not None and spec == config.model and not local.exists()
    return StartingModel(ref, config.model if portable else str(ref.path))


def load_model(start: StartingModel, config: TrainConfig, *, dtype: str, gradient_checkpointing: bool,
               device: str = "cpu", pad_token_id: int | None = None) -> Any:
    """The model to hand to TRL: full weights (``none``/``lora``) or 4-bit with k-bit training prepared.

    ``device`` is this process's device (the trainer's ``args.device``: ``cuda:<local rank>`` under
    ``accelerate launch``); only the 4-bit model is placed at load time, the trainer moves the others.
    For ``method: reward`` it is a one-label sequence classifier with ``pad_token_id`` (required then).
    """
    import torch
    from transformers import AutoModelForCausalLM

    ref = start.ref
    torch_dtype = getattr(torch, dtype)
    if config.method == "reward":
        assert pad_token_id is not None, "a reward model needs the tokenizer's pad id"
        return _load_reward_model(start, config, torch_dtype, gradient_checkpointing, device, pad_token_id)
    if ref.kind == "peft":  # full fine-tuning of base + adapter: one whole model to train
        from peft import PeftModel

        assert ref.base is not None and ref.base.path is not None and ref.path is not None
        base = AutoModelForCausalLM.from_pretrained(ref.base.path, dtype=torch_dtype)
        merged = PeftModel.from_pretrained(base, ref.path).merge_and_unload()
        return merged.requires_grad_(True)  # PEFT froze the base weights; full fine-tuning trains them all
    assert ref.path is not None
    if config.adapter != "qlora":
        return AutoModelForCausalLM.from_pretrained(ref.path, dtype=torch_dtype)

    from peft import prepare_model_for_kbit_training

    quant = bnb_config(config.quantization or QuantizationSettings())
    # bitsandbytes quantizes as the weights land, so they must land on the device that trains them.
    model = AutoModelForCausalLM.from_pretrained(ref.path, quantization_config=quant, dtype=torch_dtype,
                                                 device_map={"": device})
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def _load_reward_model(start: StartingModel, config: TrainConfig, torch_dtype: Any, gradient_checkpointing: bool,
                       device: str, pad_token_id: int) -> Any:
    from transformers import AutoModelForSequenceClassification
    from transformers.trainer_utils import set_seed
    from trl.trainer.reward_trainer import suppress_seqcls_warning

    assert start.ref.path is not None
    # The new head is random: seeded here as RewardTrainer seeds before it loads a model by name.
    set_seed(config.seed)
    kwargs: dict[str, Any] = {"num_labels": 1, "pad_token_id": pad_token_id, "dtype": torch_dtype}
    if config.adapter == "qlora":
        # bitsandbytes quantizes as the weights land, so they must land on the device that trains them.
        kwargs.update(quantization_config=bnb_config(config.quantization or QuantizationSettings()),
                      device_map={"": device})
    with suppress_seqcls_warning():  # TRL's: "score.weight newly initialised" is the point, not a problem
        model = AutoModelForSequenceClassification.from_pretrained(start.ref.path, **kwargs)
    model.config.pad_token_id = pad_token_id
    if config.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def score_head_name(model: Any) -> str | None:
    """The name of a sequence classifier's output layer (the module that produces ``logits``): the
    top-level linear layer with ``num_labels`` outputs; None when there is no such single layer."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = inner.config.num_labels
    found = []
    for name, module in inner.named_children():
        layer = getattr(module, "original_module", module)  # PEFT wraps a saved module
        if isinstance(layer, torch.nn.Linear) and layer.out_features == labels:
            found.append(name)
    return found[0] if len(found) == 1 else None


def bnb_config(settings: QuantizationSettings) -> Any:
    """transformers' ``BitsAndBytesConfig`` from the config's ``quantization:`` block (same names)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=settings.load_in_4bit, bnb_4bit_quant_type=settings.bnb_4bit_quant_type,
                              bnb_4bit_use_double_quant=settings.bnb_4bit_use_double_quant,
                              bnb_4bit_compute_dtype=getattr(torch, settings.bnb_4bit_compute_dtype))


def lora_config(config: TrainConfig) -> Any:
    """PEFT's ``LoraConfig`` for ``lora``/``qlora`` (None for full fine-tuning)."""
    if config.adapter == "none":
        return None
    from peft import LoraConfig

    lora = config.lora or LoraSettings()
    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    # SEQ_CLS makes PEFT add the score head to modules_to_save: trained whole and saved with the adapter.
    task_type = "SEQ_CLS" if config.method == "reward" else "CAUSAL_LM"
    return LoraConfig(r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
                      target_modules=targets, bias=lora.bias, task_type=task_type)
