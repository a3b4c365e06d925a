"""The training config (``evalkit train CONFIG.yaml``): one typed model, validated once at the edge.

Field names are the ecosystem's own, so a user can paste from their docs: ``lora:`` is PEFT's
``LoraConfig``, ``quantization:`` is transformers' ``BitsAndBytesConfig`` (bitsandbytes' names),
``trainer:`` is TRL's ``SFTConfig`` / ``DPOConfig`` / ``RewardConfig`` / ``GRPOConfig`` / ``RLOOConfig``
(checked against the installed TRL's real fields when the file loads). Loading a config reads the YAML
and imports TRL's config classes; it loads no model and writes nothing.

Methods: ``sft`` (supervised), ``dpo`` (preference pairs, the policy as implicit reward), ``reward`` (a
sequence-classification reward model on the same pairs, TRL's ``RewardTrainer``), and ``grpo`` / ``rloo``
(online optimisation against ``reward_model:``, a checkpoint ``method: reward`` produced).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from evalkit.errors import UserError
from evalkit.validation import validate
from evalkit.yaml_source import Loc, SourceMap, load_yaml

Method = Literal["sft", "dpo", "reward", "grpo", "rloo"]
#: Methods that generate and score their own completions with ``reward_model:`` (online RL).
ONLINE_METHODS = ("grpo", "rloo")
#: The head PEFT trains whole (modules_to_save) on a sequence-classification model (PEFT's own names).
SCORE_HEAD_NAMES = ("score", "classifier")

# trainer: fields that evalkit sets itself, and where the user sets them instead.
OWNED_TRAINER_FIELDS = {
    "output_dir": "it is the --output flag of `evalkit train`",
    "seed": "set `seed:` at the top level of the config",
    "max_length": "set `max_length:` at the top level of the config",
    "chat_template_path": "set `chat_template:` at the top level of the config",
    "resume_from_checkpoint": "use `evalkit train --resume` (on by default when the output folder has a checkpoint)",
    "dataset_text_field": "evalkit prepares rows in TRL's own columns; map yours with `dataset.columns`",
    "model_init_kwargs": "evalkit loads the model itself; see `adapter:` and `quantization:`",
    # RewardConfig: evalkit sets the tokenizer's pad token (its own, else EOS) and the model's pad_token_id.
    "pad_token": "evalkit sets the pad token (the tokenizer's, else its EOS) and the model's pad_token_id",
}


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

    @field_validator("load_in_4bit")
    @classmethod
    def _four_bit(cls, value: bool) -> bool:
        if not value:
            # 8-bit or unquantized bases are other adapters, not QLoRA: say which one to use instead.
            raise PydanticCustomError("qlora_4bit", "adapter: qlora loads the base in 4-bit; for a 16/32-bit base use "
                                                    "adapter: lora")
        return value


class FieldCondition(_Strict):
    """Keep the rows where ``column OP value`` (or ``column OP other_column``) holds.

    ``filter: [{column: score_chosen, op: "<", value: 8}]``; to drop ties,
    ``{column: score_chosen, op: "!=", other_column: score_rejected}``. Columns are the file's own
    names (before ``columns:`` maps them), since filters usually test metadata the format then drops.
    """

    column: str = Field(min_length=1)
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
    value: Any = Field(None, description="a literal to compare with (a list for in / not in)")
    other_column: str | None = Field(None, description="compare with this column of the same row instead")

    @field_validator("other_column")
    @classmethod
    def _one_operand(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("value") is not None:
            raise PydanticCustomError("operand", "give value or other_column, not both")
        return value


class TrainDataset(_Strict):
    """Where rows come from (as in suites: a hub id or local files) and how they are prepared."""

    path: str = Field(min_length=1, description="hub id, or json|csv|parquet with data_files, or a file path")
    name: str | None = None
    data_dir: str | None = Field(None, description="a hub dataset's folder (datasets' data_dir: Anthropic/hh-rlhf's "
                                                   "harmless-base); in a --data-root mirror, the subfolder")
    split: str = "train"
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None
    columns: dict[str, str] = Field(default_factory=dict, description="the file's column -> the format's column")
    filter: list[FieldCondition] = Field(default_factory=list)
    skip: int | None = Field(None, ge=1, description="leave out the first N rows (after filter, before shuffle): "
                                                     "rows held out for an evaluation that reads the head")
    shuffle_seed: int | None = None
    select: int | None = Field(None, ge=1, description="keep the first N rows (after filter and shuffle), "
                                                        "before eval_fraction splits them")
    eval_split: str | None = None
    eval_fraction: float | None = Field(None, gt=0.0, lt=1.0)

    @field_validator("eval_fraction")
    @classmethod
    def _one_eval_source(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("eval_split") is not None:
            raise PydanticCustomError("eval_source", "give eval_split or eval_fraction, not both")
        return value


class TrainConfig(_Strict):
    method: Method
    model: str = Field(min_length=1, description="anything `evalkit run --model` accepts")
    adapter: Literal["none", "lora", "qlora"] = "lora"
    # Validated even when absent, so that lora/qlora get their default blocks (see _adapter_blocks).
    lora: LoraSettings | None = Field(None, validate_default=True)
    quantization: QuantizationSettings | None = Field(None, validate_default=True)
    dataset: TrainDataset
    chat_template: str | None = Field(None, description="the model's own (unset), a shipped name, or a .jinja path")
    max_length: int | None = Field(None, ge=8, description="tokens per example (passed to TRL)")
    seed: int = 42
    reward_model: str | None = Field(None, description="grpo/rloo: the reward checkpoint (or SEQ_CLS adapter) that "
                                                       "scores the completions")
    trainer: dict[str, Any] = Field(default_factory=dict, description="TRL SFTConfig / DPOConfig / RewardConfig / "
                                                                      "GRPOConfig / RLOOConfig fields")

    _source: SourceMap | None = PrivateAttr(None)

    @field_validator("lora", "quantization", mode="before")
    @classmethod
    def _adapter_blocks(cls, value: Any, info: ValidationInfo) -> Any:
        adapter = info.data.get("adapter")
        if adapter is None:  # adapter itself is invalid: that error is the one to report
            return value
        wanted = adapter in ("lora", "qlora") if info.field_name == "lora" else adapter == "qlora"
        if wanted:
            return {} if value is None else value  # the block's defaults (QLoRA: NF4, double quant)
        if value is not None:
            need = "adapter: lora or qlora" if info.field_name == "lora" else "adapter: qlora"
            raise PydanticCustomError("adapter_block", f"a {info.field_name} block needs {need} "
                                                       f"(this config has adapter: {adapter})")
        return None

    @field_validator("max_length")
    @classmethod
    def _length_field(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("method") in ONLINE_METHODS:
            # GRPOConfig / RLOOConfig have no max_length: what they bound is the generated completion.
            raise PydanticCustomError("online_length", f"{info.data['method']} generates its completions: set "
                                                       "trainer.max_completion_length instead")
        return value

    @field_validator("reward_model")
    @classmethod
    def _reward_model_only_online(cls, value: str | None, info: ValidationInfo) -> str | None:
        method = info.data.get("method")
        if value is not None and method is not None and method not in ONLINE_METHODS:
            raise PydanticCustomError("reward_model_method", f"reward_model is for method grpo or rloo (the model "
                                                             f"that scores generations); this config has method: "
                                                             f"{method}")
        return value

    def error_at(self, field: str, message: str) -> UserError:
        """A :class:`ConfigError` at ``field`` (``"model"``, ``"dataset.path"``) of the file this config
        came from, for problems found after loading (a model without a chat template); a plain
        :class:`UserError` for a config built in code."""
        loc: Loc = tuple(field.split("."))
        if self._source is None:
            return UserError(f"{field}: {message}")
        return self._source.error(loc, message)


def load_train_config(path: str | Path) -> tuple[TrainConfig, Path]:
    """The validated config and its folder (relative paths resolve against it).

    Bad input raises :class:`~evalkit.errors.ConfigError` (``file:line:col: field: message``).
    """
    path = Path(path)
    data, source = load_yaml(path)
    if not isinstance(data, dict):
        raise source.error((), "a training config must be a mapping with keys method, model, dataset, ...")
    config: TrainConfig = validate(TrainConfig, data, source, (), owner="a training config")
    _check_trainer_fields(config.method, config.trainer, source)
    _check_method_fields(config, source)
    _check_reward_model(config.reward_model, path.parent, source)
    _check_chat_template(config.chat_template, path.parent, source)
    config._source = source
    return config, path.parent


def trainer_config_class(method: Method) -> type:
    """TRL's config dataclass for ``method`` (imported here: TRL pulls in torch and transformers)."""
    from trl import DPOConfig, GRPOConfig, RewardConfig, RLOOConfig, SFTConfig

    classes: dict[str, type] = {"sft": SFTConfig, "dpo": DPOConfig, "reward": RewardConfig, "grpo": GRPOConfig,
                                "rloo": RLOOConfig}
    return classes[method]


def _check_method_fields(config: TrainConfig, source: SourceMap) -> None:
    """What one method needs of the other fields: grpo/rloo a reward model; reward a head that trains."""
    if config.method in ONLINE_METHODS and config.reward_model is None:
        raise source.error(("method",), f"method: {config.method} needs reward_model: PATH (a checkpoint that "
                                        "`evalkit train` made with method: reward, or its merge)")
    if config.method == "reward" and config.lora is not None and isinstance(config.lora.target_modules, list):
        heads = [m for m in config.lora.target_modules if m.split(".")[-1] in SCORE_HEAD_NAMES]
        if heads:
            # A LoRA on the head would train a low-rank update of a random matrix: PEFT trains the head
            # whole (modules_to_save) for task_type SEQ_CLS, which is what evalkit asks of it.
            raise source.error(("lora", "target_modules"), f"{heads[0]} is the reward head, newly initialised: it "
                                                          "is trained whole (PEFT's modules_to_save), not through "
                                                          "a LoRA; leave it out of target_modules")


def _check_trainer_fields(method: Method, trainer: dict[str, Any], source: SourceMap) -> None:
    cls = trainer_config_class(method)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key, value in trainer.items():
        loc: Loc = ("trainer", key)
        # "Not a field" first: GRPOConfig has no max_length, and "set it at the top level" would mislead.
        if key not in fields:
            close = difflib.get_close_matches(key, [f for f in fields if f not in OWNED_TRAINER_FIELDS], n=4)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise source.error(loc, f"not a field of TRL's {cls.__name__} (method: {method}){hint}")
        if key in OWNED_TRAINER_FIELDS:
            raise source.error(loc, f"evalkit sets {key} itself: {OWNED_TRAINER_FIELDS[key]}")
        problem = _type_problem(fields[key].type, value)
        if problem:
            raise source.error(loc, problem)


_SCALARS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _type_problem(annotation: Any, value: Any) -> str | None:
    """A message when ``value`` obviously does not fit a plain bool/int/float/str field (others are left
    to TRL, which validates its own values)."""
    members = set(typing.get_args(annotation)) if isinstance(annotation, types.UnionType) else {annotation}
    if value is None and type(None) in members:
        return None
    members.discard(type(None))
    if not members or not members <= set(_SCALARS):
        return None
    fits = any(
        (isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)))
        or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        for kind in members)
    if fits:
        return None
    expected = " or ".join(_SCALARS[kind] for kind in sorted(members, key=list(_SCALARS).index))
    message = f"expected {expected}, got {value!r}"
    if float in members and isinstance(value, str) and _is_float(value):
        # YAML 1.1 reads 1e-4 (no dot) as text: the classic learning_rate trap.
        message += f" (YAML reads {value} as text; write it with a dot, e.g. {float(value):.1e})"
    return message


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_reward_model(reward_model: str | None, base_dir: Path, source: SourceMap) -> None:
    """A reward model already on disk must be one (its JSON files say so); a folder not made yet (a later
    pipeline step's input) is left to `evalkit train`, which needs it."""
    from evalkit.harness.reward_model import reward_checkpoint_kind

    if reward_model is None or not (base_dir / reward_model).expanduser().exists():
        return
    try:
        reward_checkpoint_kind((base_dir / reward_model).expanduser())
    except UserError as exc:
        raise source.error(("reward_model",), str(exc)) from None


def _check_chat_template(choice: str | None, base_dir: Path, source: SourceMap) -> None:
    from evalkit.harness.templates import SHIPPED_TEMPLATES, is_template_path

    if choice is None or choice in SHIPPED_TEMPLATES:
        return
    if not is_template_path(choice):
        raise source.error(("chat_template",), f"unknown chat template {choice!r} (shipped: "
                                               f"{', '.join(sorted(SHIPPED_TEMPLATES))}; or a path to a .jinja "
                                               "file; unset, the model's own)")
    if not (base_dir / choice).expanduser().is_file():
        raise source.error(("chat_template",), f"no such file {str(base_dir / choice)!r}")


def evalkit_trainer_defaults(method: Method, on_cpu: bool, row_format: str | None = None,
                             conversational: bool = False) -> dict[str, Any]:
    """TRL config values evalkit uses where TRL's own defaults do not fit (``trainer:`` overrides them).

    ``row_format`` / ``conversational`` (from :class:`~evalkit.harness.data.PreparedRows`) decide the
    loss mask of SFT.
    """
    defaults: dict[str, Any] = {
        "report_to": "none",  # no network here, and no tracker account: the loss curve goes to the lineage
        "logging_steps": 1,  # every step's loss and learning rate feed the lineage's loss curve
        "save_strategy": "steps",
        # Resume needs a checkpoint inside the short runs this machine does (TRL's 500 is never reached).
        "save_steps": 25,
        "save_total_limit": 2,  # resume needs the last one; the one before survives a kill during a save
    }
    if on_cpu:
        defaults.update({
            "use_cpu": True,  # never pick up an accelerator the run was not meant for
            "bf16": False,  # no bf16 mixed precision on CPU autocast: slow, and float32 is the reference
            "fp16": False,
            "dataloader_pin_memory": False,  # pinning only speeds host-to-GPU copies (and warns without one)
            # TRL turns it on to save memory at ~30% more compute; on a CPU the small models fit and time is short.
            "gradient_checkpointing": False,
            "per_device_train_batch_size": 2,  # TRL's 8 makes one step of a 270M model take minutes here
        })
    if method in ONLINE_METHODS and on_cpu:
        # num_generations must divide the batch of completions (batch x accumulation); TRL's 8 would need a
        # batch of 8 prompts' worth of generations per step, minutes a step here.
        defaults["num_generations"] = 2
    if method == "sft":
        # Padding-free packing needs flash attention to keep examples apart; with sdpa/eager attention,
        # packed examples attend to each other (contamination). Off unless the user asks.
        defaults.update({"packing": False, "padding_free": False})
        if row_format == "messages" and conversational:
            # Loss on the assistant's turns only (the template's {% generation %} span, end-of-turn included).
            defaults["assistant_only_loss"] = True
    return defaults

