"""A trained reward model, as grpo/rloo's ``reward_model:`` names it: checked from its files, then loaded.

A reward model is what ``method: reward`` saves: a checkpoint folder whose ``config.json`` names a
``*ForSequenceClassification`` architecture with one label and a ``pad_token_id`` (full training, or
the merge of a reward adapter), or a PEFT adapter folder with ``task_type: SEQ_CLS`` (its score head
in ``modules_to_save``) on a base checkpoint. The reward of a sequence is ``logits[:, 0]`` at its last
non-pad token, which the sequence-classification class finds from ``pad_token_id``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from evalkit.errors import UserError

RewardKind = Literal["checkpoint", "adapter"]


def reward_checkpoint_kind(folder: Path) -> RewardKind:
    """``checkpoint`` or ``adapter``, from the folder's JSON files alone (no weights read); a folder that
    is not a reward model is a one-line :class:`UserError` saying what it is instead."""
    if not folder.is_dir():
        raise UserError(f"no such folder {str(folder)!r} (a reward model: `evalkit train` with method: reward)")
    adapter_file = folder / "adapter_config.json"
    if adapter_file.is_file():
        task = _json(adapter_file).get("task_type")
        if task != "SEQ_CLS":
            raise UserError(f"{folder} is a PEFT adapter with task_type {task!r}, not a reward model (task_type "
                            "SEQ_CLS, as method: reward trains)")
        return "adapter"
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise UserError(f"{folder} has neither config.json nor adapter_config.json: not a model folder")
    config = _json(config_file)
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise UserError(f"{folder} is a {', '.join(map(str, architectures)) or 'model without architectures'} "
                        "checkpoint, not a sequence-classification reward model (train one with method: reward)")
    labels = config.get("num_labels") or len(config.get("id2label") or {}) or 2  # transformers' default is 2
    if labels != 1:
        raise UserError(f"{folder}: a sequence classifier with {labels} labels; a reward model has one")
    if config.get("pad_token_id") is None:
        raise UserError(f"{folder}: config.json has no pad_token_id, so the reward's position (the last non-pad "
                        "token) is unknown; set it to the tokenizer's pad id")
    return "checkpoint"


def load_reward_model(folder: Path, *, dtype: str = "float32") -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the reward model in ``folder``, frozen, in eval mode; an adapter is merged
    into its base in memory. The tokenizer is the one saved with it (its chat template and pad token)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kind = reward_checkpoint_kind(folder)
    torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder if (folder / "tokenizer_config.json").is_file()
                                              else _adapter_base(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as RewardTrainer set it at training time
    if kind == "checkpoint":
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch_dtype)
    else:
        from peft import PeftModel
        from trl.trainer.reward_trainer import suppress_seqcls_warning

        with suppress_seqcls_warning():  # the base's random head is replaced by the adapter's trained one
            base = AutoModelForSequenceClassification.from_pretrained(_adapter_base(folder), num_labels=1,
                                                                      pad_token_id=tokenizer.pad_token_id,
                                                                      dtype=torch_dtype)
        model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.eval().requires_grad_(False), tokenizer


def _adapter_base(folder: Path) -> Path:
    from evalkit.models.resolve import resolve_model

    declared = _json(folder / "adapter_config.json").get("base_model_name_or_path")
    if not isinstance(declared, str) or not declared:
        raise UserError(f"{folder / 'adapter_config.json'}: no base_model_name_or_path, so its base is unknown")
    base = resolve_model(declared)
    if base.kind != "hf" or base.path is None:
        raise UserError(f"{folder}: the adapter's base {declared!r} is not a checkpoint folder")
    return base.path


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data
