"""``evalkit train``'s core: a validated config and prepared rows in, a trained checkpoint folder out.

Everything that trains is TRL's (``SFTTrainer``, ``DPOTrainer``, ``RewardTrainer``, ``GRPOTrainer``,
``RLOOTrainer``), PEFT's and bitsandbytes'; this module only chooses their settings. The output folder
holds, at its top, the adapter (or the whole model for full fine-tuning) with the tokenizer and the chat
template trained with, ``trainer_log.jsonl`` (the loss curve), and under it the ``checkpoint-N`` folders
TRL writes (a rerun resumes from the last one).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError
from evalkit.harness.callbacks import (
    ProgressBarCallback,
    StopWhenResumedAtTheEnd,
    TrainingAlreadyFinished,
    loss_curve,
)
from evalkit.harness.checkpoints import checkpoint_to_resume
from evalkit.harness.config import ONLINE_METHODS, SCORE_HEAD_NAMES, evalkit_trainer_defaults, trainer_config_class
from evalkit.harness.model_loading import (
    StartingModel,
    load_model,
    lora_config,
    resolve_starting_model,
    score_head_name,
)

if TYPE_CHECKING:
    from evalkit.harness.config import TrainConfig
    from evalkit.harness.data import PreparedRows

TRAINER_LOG = "trainer_log.jsonl"


@dataclass(frozen=True)
class TrainOutcome:
    """What a run did, for the lineage record and the summary line."""

    output: Path
    starting_model: StartingModel
    steps: int
    wall_s: float  # this invocation only (a resumed run counts from its restart)
    final_loss: float | None
    loss_curve: list[dict[str, float]] = field(default_factory=list)
    resumed_from: Path | None = None
    eval_loss: float | None = None
    is_main_process: bool = True  # False on the other ranks of `accelerate launch`
    processes: int = 1  # data-parallel processes (accelerate launch --num_processes)
    # reward: pairs TRL's RewardTrainer left out as longer than max_length, per split ({"train": n, "eval": m})
    too_long: dict[str, int] = field(default_factory=dict)


def run_training(config: TrainConfig, *, rows: PreparedRows, chat_template: str, output: Path,
                 max_steps: int | None = None, resume: bool | None = None, base_dir: Path,
                 start: StartingModel | None = None, callbacks: Sequence[Any] = ()) -> TrainOutcome:
    """Train ``config.method`` on ``rows`` and save the result in ``output``.

    ``chat_template`` is set on the tokenizer (and so saved with every checkpoint); ``resume`` None resumes
    when ``output`` holds a checkpoint (see :func:`~evalkit.harness.checkpoints.checkpoint_to_resume`);
    ``start`` is ``config.model`` already resolved (resolved here when None); ``callbacks`` are extra
    ``TrainerCallback``s (timing, tests). Input problems raise
    :class:`UserError` before any model loads.
    """
    import torch
    from transformers import AutoTokenizer

    resume_from = checkpoint_to_resume(output, resume)
    start = start or resolve_starting_model(config, base_dir)
    on_cpu = not torch.cuda.is_available() or bool(config.trainer.get("use_cpu"))
    args = trainer_arguments(config, rows, output=output, max_steps=max_steps, on_cpu=on_cpu)
    tokenizer = AutoTokenizer.from_pretrained(start.ref.tokenizer_path)
    tokenizer.chat_template = chat_template
    if getattr(args, "assistant_only_loss", False):
        _check_assistant_mask(tokenizer)
    if config.method == "reward" and tokenizer.pad_token is None:
        # RewardTrainer's own fallback, set before the model loads so its config gets the same pad id.
        tokenizer.pad_token = tokenizer.eos_token
    reward = _reward_model(config, base_dir) if config.method in ONLINE_METHODS else None

    started = time.perf_counter()
    dtype = "bfloat16" if args.bf16 and config.adapter != "none" else "float32"
    model = load_model(start, config, dtype=dtype, gradient_checkpointing=args.gradient_checkpointing,
                       device=str(args.device), pad_token_id=tokenizer.pad_token_id)
    if config.method == "reward" and config.adapter != "none":
        _check_score_head(config, model)
    ref_model = None
    if config.method == "dpo" and config.adapter == "none" and not args.precompute_ref_log_probs:
        # Full DPO needs a frozen copy; loaded here from the same start (TRL would reload the config's
        # path, which for an adapter folder is the base without the adapter).
        ref_model = load_model(start, config, dtype=dtype, gradient_checkpointing=False, device=str(args.device))
    trainer = build_trainer(config, model, args, rows, tokenizer, callbacks, ref_model=ref_model, reward=reward)
    too_long = _report_too_long(config, rows, trainer) if config.method == "reward" else {}
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except TrainingAlreadyFinished:
        pass  # resumed at its last step: the checkpoint's model, saved below as the final one
    trainer.save_model(str(output))  # the adapter or model, with the tokenizer and its chat template
    eval_loss = None
    if rows.eval is not None and args.eval_strategy == "no":  # an eval split is scored once, at the end
        eval_loss = trainer.evaluate().get("eval_loss")
    wall_s = time.perf_counter() - started

    curve = loss_curve(trainer.state.log_history)
    main = trainer.is_world_process_zero()
    if main:
        if config.adapter != "none":
            _point_adapter_at(output, start.base_reference)
        (output / TRAINER_LOG).write_text("".join(json.dumps(point) + "\n" for point in curve))
    return TrainOutcome(output=output, starting_model=start, steps=trainer.state.global_step, wall_s=wall_s,
                        final_loss=curve[-1]["loss"] if curve else None, loss_curve=curve,
                        resumed_from=resume_from, eval_loss=eval_loss, is_main_process=main,
                        processes=args.world_size, too_long=too_long)


def trainer_arguments(config: TrainConfig, rows: PreparedRows, *, output: Path, max_steps: int | None,
                      on_cpu: bool) -> Any:
    """TRL's config for the method (``SFTConfig``, ``DPOConfig``, ...): evalkit's defaults, overlaid with
    ``trainer:``, then the flags."""
    settings = {**evalkit_trainer_defaults(config.method, on_cpu, rows.format, rows.conversational),
                **config.trainer}
    settings.setdefault("seed", config.seed)
    if config.max_length is not None:
        settings["max_length"] = config.max_length
    if max_steps is not None:
        settings["max_steps"] = max_steps
    settings["output_dir"] = str(output)
    # evalkit's own bar replaces transformers' (see callbacks.py)
    settings["disable_tqdm"] = True
    return trainer_config_class(config.method)(**settings)


def assistant_only_loss(config: TrainConfig, rows: PreparedRows) -> bool:
    """Whether SFT's loss covers the assistant's turns only: evalkit's default for conversational rows
    (see ``evalkit_trainer_defaults``), unless ``trainer.assistant_only_loss`` says otherwise."""
    if config.method != "sft":
        return False
    defaults = evalkit_trainer_defaults(config.method, False, rows.format, rows.conversational)
    return bool(config.trainer.get("assistant_only_loss", defaults.get("assistant_only_loss", False)))


def build_trainer(config: TrainConfig, model: Any, args: Any, rows: PreparedRows, tokenizer: Any,
                  callbacks: Sequence[Any] = (), ref_model: Any = None, reward: tuple[Any, Any] | None = None) -> Any:
    """TRL's trainer for ``config.method`` over ``model`` (LoRA attached by TRL from ``config.lora``).

    ``ref_model`` is DPO's frozen reference for full fine-tuning; with a LoRA it stays None and TRL scores
    the reference with the adapter disabled (no second copy in memory). ``reward`` is grpo/rloo's
    ``(reward model, its tokenizer)`` (see :mod:`~evalkit.harness.reward_model`).
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import DPOTrainer, GRPOTrainer, RewardTrainer, RLOOTrainer, SFTTrainer

    common = {"args": args, "train_dataset": rows.train, "eval_dataset": rows.eval, "processing_class": tokenizer,
              "peft_config": lora_config(config),
              "callbacks": [StopWhenResumedAtTheEnd(), ProgressBarCallback(f"{config.method} ({config.adapter})"),
                            *callbacks]}
    trainer: Any
    if config.method == "sft":
        trainer = SFTTrainer(model, **common)
    elif config.method == "dpo":
        trainer = DPOTrainer(model, ref_model=ref_model, **common)
    elif config.method == "reward":
        trainer = RewardTrainer(model, **common)
        if config.adapter == "qlora":
            _head_in_compute_dtype(trainer.model, config)
    else:
        assert reward is not None, f"{config.method} needs its reward model"
        online = GRPOTrainer if config.method == "grpo" else RLOOTrainer
        trainer = online(model, reward_funcs=reward[0], reward_processing_classes=reward[1], **common)
    for replaced in (PrinterCallback, ProgressCallback):  # the bar above prints loss and rate already
        trainer.remove_callback(replaced)
    return trainer


def _reward_model(config: TrainConfig, base_dir: Path) -> tuple[Any, Any]:
    """grpo/rloo's reward model and tokenizer, or the config's ``reward_model:`` line saying why not."""
    from evalkit.harness.reward_model import load_reward_model

    assert config.reward_model is not None  # the config requires it for these methods
    try:
        return load_reward_model((base_dir / config.reward_model).expanduser())
    except UserError as exc:
        raise config.error_at("reward_model", str(exc)) from None


def _check_score_head(config: TrainConfig, model: Any) -> None:
    """With a LoRA, the reward head must be one PEFT trains whole for SEQ_CLS; another name would stay random."""
    head = score_head_name(model)
    if head not in SCORE_HEAD_NAMES:
        found = f"its output layer is {head!r}" if head else "it has no single output layer with one label"
        raise config.error_at("adapter", f"{config.model}: with a LoRA, PEFT trains the reward head whole only when "
                                         f"it is named {' or '.join(SCORE_HEAD_NAMES)}, and {found}, which would "
                                         "stay random; use adapter: none")


def _head_in_compute_dtype(model: Any, config: TrainConfig) -> None:
    """Undo RewardTrainer's QLoRA cast of every trainable weight to bfloat16 for the score head: unlike a
    LoRA layer, which casts its input, the head is a plain linear layer fed the base's hidden states in the
    4-bit compute dtype, and a bfloat16 head under float32 states fails at the first step."""
    import torch

    assert config.quantization is not None
    dtype = getattr(torch, config.quantization.bnb_4bit_compute_dtype)
    for name, param in model.named_parameters():
        if param.requires_grad and "modules_to_save" in name:
            param.data = param.data.to(dtype)


def _report_too_long(config: TrainConfig, rows: PreparedRows, trainer: Any) -> dict[str, int]:
    """Pairs RewardTrainer left out (chosen or rejected longer than ``max_length`` tokens), per split, said on
    stderr before training starts; none left to train on is an error."""
    limit = trainer.args.max_length
    given = {"train": len(rows.train)}
    counts = {"train": given["train"] - len(trainer.train_dataset)}
    if rows.eval is not None and trainer.eval_dataset is not None:
        given["eval"] = len(rows.eval)
        counts["eval"] = given["eval"] - len(trainer.eval_dataset)
    if counts["train"] == len(rows.train):
        raise config.error_at("max_length", f"every one of the {len(rows.train)} training pairs is longer than "
                                            f"max_length ({limit} tokens, chosen or rejected), so TRL's RewardTrainer "
                                            "would leave them all out; raise max_length")
    if trainer.is_world_process_zero() and any(counts.values()):
        split_text = "; ".join(f"{split}: {n} of {given[split]}" for split, n in counts.items())
        print(f"reward: pairs longer than max_length ({limit} tokens, chosen or rejected) are left out by TRL's "
              f"RewardTrainer: {split_text}", file=sys.stderr, flush=True)
    return counts


def _check_assistant_mask(tokenizer: Any) -> None:
    """Refuse a template that cannot mask the loss to the assistant's turns, or leaves out their
    end-of-turn token (the model would never learn to stop); TRL would only warn or swap templates."""
    from trl.chat_template_utils import has_generation_markers, is_chat_template_stop_token_trained

    advice = "choose chat_template: NAME (evalkit's carry the markers) or set trainer.assistant_only_loss: false"
    if not has_generation_markers(tokenizer.chat_template):
        raise UserError(f"assistant_only_loss needs {{% generation %}} markers in the chat template; {advice}")
    if not is_chat_template_stop_token_trained(tokenizer):
        raise UserError("the chat template leaves the assistant's end-of-turn token outside {% generation %}, "
                        f"so the model would not learn to stop; {advice}")


def _point_adapter_at(output: Path, base_reference: str) -> None:
    """Name the base in adapter_config.json as the config did (an alias or hub id stays portable), not by
    the cache folder it was loaded from; and write PEFT's module sets sorted.

    PEFT saves ``target_modules`` (a set) in the process's hash order, so each save of the same adapter
    (a rerun that resumes a finished training) would write a different file, and the adapter's
    fingerprint, the key of its cached answers, would change with it.
    """
    path = output / "adapter_config.json"
    adapter = json.loads(path.read_text())
    adapter["base_model_name_or_path"] = base_reference
    for key in ("target_modules", "modules_to_save"):
        if isinstance(adapter.get(key), list):
            adapter[key] = sorted(adapter[key])
    path.write_text(json.dumps(adapter, indent=2, sort_keys=True) + "\n")
