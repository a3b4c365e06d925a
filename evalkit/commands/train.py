"""``evalkit train CONFIG.yaml``: SFT, DPO, a reward model, or GRPO/RLOO against one (full, LoRA, QLoRA) on
TRL, with a lineage record. ``evalkit train --check CONFIG.yaml`` validates the config and its data
without loading weights or writing anything (see :mod:`evalkit.harness.check`).

Everything the config names is checked before a model loads: the config itself, the rows, the output
folder, the model and the chat template. ``accelerate launch -m evalkit train CONFIG.yaml`` runs the same
command data-parallel; the main process alone writes the lineage and prints the summary.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, positive_int, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.harness.config import TrainConfig
    from evalkit.harness.data import PreparedRows
    from evalkit.harness.lineage import LineageRecord
    from evalkit.harness.trainer import TrainOutcome

HELP = "fine-tune a model (SFT, DPO, reward model, GRPO/RLOO; full, LoRA or QLoRA) from a YAML config"

def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="training config YAML (see harness/configs/)")
    parser.add_argument("--check", action="store_true",
                        help="validate the config and its data (no weights loaded, nothing written), then stop")
    parser.add_argument("--data-root", type=Path,
                        help="local mirrors of hub data sets, DIR/owner/name[/config]/split.jsonl (or "
                             "$EVALKIT_DATA_ROOT)")
    parser.add_argument("--output", type=Path, help="output folder (default runs/train__<config name>)")
    parser.add_argument("--max-steps", type=positive_int, help="stop after N optimizer steps (overrides trainer:)")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", dest="resume", action="store_true", default=None,
                        help="resume from the output folder's last checkpoint (the default when it holds one)")
    resume.add_argument("--no-resume", dest="resume", action="store_false",
                        help="start fresh; refuse a non-empty output folder")
    add_store_flag(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.harness.config import load_train_config
    from evalkit.harness.data import prepare_rows

    if args.check:
        from evalkit.harness.check import check_config

        print(check_config(args.config, args.data_root).render())
        return 0
    # The config and the rows first, before torch, TRL and bitsandbytes are imported: a bad config is one
    # line, at once (the config module quiets bitsandbytes' note about an optional CPU kernel).
    config, base_dir = load_train_config(args.config)
    rows = prepare_rows(config, base_dir, args.data_root)

    from transformers import AutoTokenizer

    from evalkit.harness.checkpoints import checkpoint_to_resume
    from evalkit.harness.lineage import write_lineage
    from evalkit.harness.model_loading import resolve_starting_model
    from evalkit.harness.templates import resolve_chat_template
    from evalkit.harness.trainer import assistant_only_loss, run_training

    output: Path = args.output or Path("runs") / f"train__{args.config.stem}"
    checkpoint_to_resume(output, args.resume)  # refused here too, before the model resolves (an alias converts)
    start = resolve_starting_model(config, base_dir)
    tokenizer = AutoTokenizer.from_pretrained(start.ref.tokenizer_path)
    template = resolve_chat_template(config.chat_template, tokenizer, base_dir,
                                     assistant_only_loss=assistant_only_loss(config, rows), error=config.error_at)
    outcome = run_training(config, rows=rows, chat_template=template, output=output, max_steps=args.max_steps,
                           resume=args.resume, base_dir=base_dir, start=start)
    if not outcome.is_main_process:
        return 0
    record = lineage_record(config, rows, outcome, max_steps=args.max_steps)
    write_lineage(output, record)
    _record_in_store(store_path(args, env), outcome, record)
    loss = "n/a" if outcome.final_loss is None else f"{outcome.final_loss:.4f}"
    resumed = f", resumed from {outcome.resumed_from.name}" if outcome.resumed_from else ""
    too_long = outcome.too_long.get("train", 0)
    left_out = f", {too_long} pairs over max_length left out" if too_long else ""
    print(f"{config.method} ({config.adapter}) on {config.model}: {outcome.steps} steps in {outcome.wall_s:.0f} s"
          f"{resumed}{left_out}, final loss {loss} -> {output}")
    return 0


def lineage_record(config: TrainConfig, rows: PreparedRows, outcome: TrainOutcome, *,
                   max_steps: int | None) -> LineageRecord:
    """The record of a training run; ``--max-steps`` is folded into the config's ``trainer:`` since it is
    what the run actually used."""
    from evalkit.harness.lineage import LineageRecord, library_versions

    recorded = config.model_dump(mode="json")
    if max_steps is not None:
        recorded["trainer"] = {**recorded["trainer"], "max_steps": max_steps}
    # A local model is recorded as an absolute path: config.model is relative to the config's folder, which
    # whoever reads the record later (the reference of reward_accuracy, the lineage table) does not know.
    from evalkit.models.aliases import ALIASES

    local = Path(outcome.starting_model.ref.spec)  # the config's folder joined, for a local model
    parent = str(local.resolve()) if config.model not in ALIASES and local.exists() else config.model
    return LineageRecord(
        kind="train", method=config.method, adapter=config.adapter, parent_model=parent,
        parent_fingerprint=outcome.starting_model.ref.fingerprint, config=recorded,
        dataset_fingerprint=rows.fingerprint, dataset_rows=rows.rows, dropped_rows=dropped_rows(rows, outcome),
        steps=outcome.steps, wall_s=outcome.wall_s,
        final_loss=outcome.final_loss, loss_curve=outcome.loss_curve, versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"))


def dropped_rows(rows: PreparedRows, outcome: TrainOutcome) -> dict[str, int]:
    """Rows read but not trained on, by reason (see ``LineageRecord.dropped_rows``); zero counts left out,
    except a reward run's ``too_long``, which is always recorded (0 says it was counted)."""
    counts = {"filter": rows.filtered_out}
    for split, n in outcome.too_long.items():
        counts["too_long" if split == "train" else f"too_long_{split}"] = n
    return {reason: n for reason, n in counts.items() if n or reason == "too_long"}


def _record_in_store(store_path: str | Path, outcome: TrainOutcome, record: LineageRecord) -> None:
    """The parent and the trained checkpoint in the store, so `evalkit models lineage` walks the chain."""
    from evalkit.harness.lineage import record_in_store
    from evalkit.store import Store

    parent = outcome.starting_model.ref
    with Store(store_path) as store:
        store.upsert_model(parent.fingerprint, parent.name, str(parent.path), parent.parent_fingerprint,
                           parent.metadata())
        record_in_store(store, outcome.output, record)
