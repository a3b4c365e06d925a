"""``evalkit models list``: the built-in model aliases and whether each is converted yet."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "built-in model aliases"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="aliases and whether each is converted and cached")


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.models.aliases import ALIASES

    for alias in ALIASES.values():
        if not alias.installed():
            state = f"not installed ({alias.install})"
        else:
            state = "cached" if alias.converted() else "converted on first use"
        kind = "chat" if alias.chat else "base"
        print(f"{alias.name:24} {kind:5} {state:24} {alias.description}")
    return 0
