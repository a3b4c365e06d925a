"""``evalkit evaluators list``: every registered evaluator, what it asks a model and its settings."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "registered evaluators"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="evaluators and their settings")


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.evaluator import evaluator_registry
    from evalkit.suites.loader import describe_settings

    registry = evaluator_registry()
    for name in registry.names():
        cls = registry.get(name)
        doc = ((cls.__module__ and sys.modules[cls.__module__].__doc__) or "").strip().splitlines()
        needs = ", ".join(sorted(cls.request_kinds)) or "no model"
        print(f"{name}  [{needs}]\n  {doc[0] if doc else ''}")
        for field, kind, help_text in describe_settings(cls):
            print(f"    {field:22} {kind:36} {help_text}")
    return 0
