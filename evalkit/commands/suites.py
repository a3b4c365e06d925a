"""``evalkit suites validate FILE`` and ``evalkit suites list [DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "check and list suites"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", help="validate a suite file without running it")
    validate.add_argument("file", type=Path)
    listing = actions.add_parser("list", help="suites in a folder")
    listing.add_argument("folder", type=Path, nargs="?", default=Path("suites"))


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.errors import UserError
    from evalkit.suites import load_suite

    if args.action == "validate":
        suite = load_suite(args.file)
        print(f"{args.file}: ok — suite {suite.name!r}, {len(suite.tasks)} tasks: "
              + ", ".join(f"{t.name} ({t.evaluator.name})" for t in suite.tasks))
        return 0
    files = sorted(args.folder.glob("*.yaml")) + sorted(args.folder.glob("*.yml"))
    if not files:
        raise UserError(f"{args.folder}: no suite files (*.yaml) here")
    for file in files:
        try:
            suite = load_suite(file)
            print(f"{file!s:36} {suite.name:20} {len(suite.tasks):3} tasks  {suite.description}")
        except UserError as exc:
            print(f"{file!s:36} INVALID  {exc}")
    return 0
