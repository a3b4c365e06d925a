"""``evalkit merge --adapter DIR --out DIR``: a PEFT adapter folded into its base, with its lineage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "merge a LoRA/QLoRA adapter into its base model"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, required=True, help="the PEFT adapter folder")
    parser.add_argument("--out", type=Path, required=True, help="new (or empty) folder for the merged checkpoint")
    parser.add_argument("--base", help="the base model (anything `evalkit run --model` accepts); default: the "
                                       "adapter's base_model_name_or_path")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                        help="dtype the base is loaded, merged and saved in (default float32)")
    parser.add_argument("--dequantize", action="store_true",
                        help="merge onto the dequantized 4-bit base that QLoRA trained against, "
                             "instead of the original weights")
    add_store_flag(parser)


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.harness.merge import adapter_source, check_output_dir, merge_adapter, record_merge
    from evalkit.store import Store

    check_output_dir(args.out)  # before any model loads
    source = adapter_source(args.adapter, args.base)
    record = merge_adapter(source, args.out, dtype=args.dtype, dequantize=args.dequantize)
    with Store(store_path(args, env)) as store:
        fingerprint = record_merge(store, source, args.out, record)
    print(f"merged {source.path} into {source.base.spec} ({record.merge_mode}, {args.dtype}) -> {args.out}  "
          f"fingerprint {fingerprint[:12]}  ({record.wall_s:.1f} s)")
    return 0
