"""The training config (``evalkit train CONFIG.yaml``): one typed model, validated once at the edge.

Field names are the ecosystem's own, so a user can paste from their docs: ``lora:`` is PEFT's
``LoraConfig``, ``quantization:`` is transformers' ``BitsAndBytesConfig`` (bitsandbytes' names),
``trainer:`` is TRL's ``SFTConfig`` / ``DPOConfig`` (checked against the installed TRL's real
fields when the file loads).

INTERFACE SKELETON: the fields below are the contract shared by the harness modules
(datasets, templates, trainer, merge, lineage). Validation details are filled in by
``load_train_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSettings(_Strict):
    """PEFT ``LoraConfig`` fields."""

    r: int = Field(16, ge=1, description="rank of the update matrices")
    lora_alpha: int = Field(32, ge=1, description="scaling: the update is multiplied by lora_alpha / r")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="module names or all-linear")
    bias: Literal["none", "all", "lora_only"] = "none"


class QuantizationSettings(_Strict):
    """transformers ``BitsAndBytesConfig`` fields (bitsandbytes' names); QLoRA's defaults."""

    load_in_4bit: bool = True
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: Literal["float32", "bfloat16", "float16"] = "float32"


class FieldCondition(_Strict):
    """Keep the rows where ``column OP value`` holds (``filter: [{column: chosen_score, op: ">=", value: 8}]``)."""

    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
    value: Any


class TrainDataset(_Strict):
    """Where rows come from (as in suites: a hub id or local files) and how they are prepared."""

    path: str = Field(min_length=1, description="hub id, or json|csv|parquet with data_files, or a file path")
    name: str | None = None
    split: str = "train"
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="the file's column -> the format's column")
    filter: list[FieldCondition] = Field(default_factory=list)
    shuffle_seed: int | None = None
    select: int | None = Field(None, ge=1, description="keep the first N rows (after filter and shuffle)")
    eval_split: str | None = None
    eval_fraction: float | None = Field(None, gt=0.0, lt=1.0)


class TrainConfig(_Strict):
    method: Literal["sft", "dpo"]
    model: str = Field(min_length=1, description="anything `evalkit run --model` accepts")
    adapter: Literal["none", "lora", "qlora"] = "lora"
    lora: LoraSettings | None = None
    quantization: QuantizationSettings | None = None
    dataset: TrainDataset
    chat_template: str | None = Field(None, description="the model's own (unset), a shipped name, or a .jinja path")
    max_length: int | None = Field(None, ge=8, description="tokens per example (passed to TRL)")
    seed: int = 42
    trainer: dict[str, Any] = Field(default_factory=dict, description="TRL SFTConfig / DPOConfig fields")

    @model_validator(mode="after")
    def _adapter_blocks(self) -> TrainConfig:
        # Filled in by load_train_config's validation (qlora defaults quantization; none forbids lora).
        return self


def load_train_config(path: str | Path) -> tuple[TrainConfig, Path]:
    """The validated config and its folder (relative paths resolve against it).

    Bad input raises :class:`~evalkit.errors.ConfigError` (``file:line:col: field: message``).
    """
    raise NotImplementedError
