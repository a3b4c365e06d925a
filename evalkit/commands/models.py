"""``evalkit models list``: the built-in model aliases and whether each is converted yet.

``evalkit models lineage MODEL``: the chain base → SFT → DPO that produced MODEL, with each
checkpoint's latest evaluation results and the deltas against its parent.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "built-in model aliases; the lineage of a trained or merged model"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="aliases and whether each is converted and cached")
    lineage = actions.add_parser("lineage", help="base → SFT → DPO chain of MODEL with results and deltas")
    lineage.add_argument("model", help="anything `evalkit run --model` accepts")
    add_store_flag(lineage)


def run(args: argparse.Namespace, env: Environment) -> int:
    if args.action == "lineage":
        return _lineage(args, env)
    from evalkit.models.aliases import ALIASES

    for alias in ALIASES.values():
        if not alias.installed():
            state = f"not installed ({alias.install})"
        else:
            state = "cached" if alias.converted() else "converted on first use"
        kind = "chat" if alias.chat else "base"
        print(f"{alias.name:24} {kind:5} {state:24} {alias.description}")
    return 0


def _lineage(args: argparse.Namespace, env: Environment) -> int:
    from pathlib import Path

    from evalkit.harness.lineage_table import build_chain, format_chain
    from evalkit.harness.merge import adapter_source
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store

    if (Path(args.model) / "adapter_config.json").is_file():  # an unusable base: say it is the adapter's field
        adapter_source(Path(args.model), advice="set it to the base model's folder or hub id")
    ref = resolve_model(args.model)
    with Store(store_path(args, env)) as store:
        print(format_chain(build_chain(store, ref)))
    return 0
