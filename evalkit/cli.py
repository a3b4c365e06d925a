"""The ``evalkit`` command line: parse flags, dispatch to the core, turn user errors into one line.

This is the edge: the only module that reads ``os.environ``. It does so once, in
:func:`install_environment`, into an :class:`~evalkit.config.Environment` that every command
receives (and that library code finds with :func:`~evalkit.config.current_environment`).

Only argparse is imported at module level so that ``evalkit --help`` answers at once; each
command imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from evalkit.config import Environment


class _Parser(argparse.ArgumentParser):
    """Bad flags are bad input like any other: one line, exit code 2 (argparse adds a usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per public module of :mod:`evalkit.commands` (see there)."""
    import evalkit.commands

    parser = _Parser(prog="evalkit", description="Declarative evaluation of language models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(evalkit.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        command = importlib.import_module(f"evalkit.commands.{info.name}")
        command_parser = sub.add_parser(info.name, help=command.HELP)  # a _Parser too: errors stay one line
        command.configure(command_parser)
        command_parser.set_defaults(handler=command.run)
    return parser


def install_environment() -> Environment:
    """Read ``os.environ`` once into an :class:`~evalkit.config.Environment` and install it for this process.

    Scripts that use evalkit as a library are edges too: they call this once, at their start.
    """
    from evalkit.config import Environment, set_environment

    # The tokenizers library warns, and can deadlock, when a process forks (the sandbox starts
    # programs) after its thread pool ran; set here so every entry point behaves the same.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # TRL's trainers send a usage ping to the Hugging Face Hub unless told not to: evalkit sends
    # nothing a user did not ask for (set HF_HUB_DISABLE_TELEMETRY=0 to allow it).
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # The same for Ray (--launcher ray): a cluster it starts sends no usage statistics (set
    # RAY_USAGE_STATS_ENABLED=1 to allow them).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env = Environment.from_environ(os.environ)
    set_environment(env)
    # bitsandbytes' CPU backend (imported with TRL and PEFT) warns on stderr that an optional faster
    # 4-bit kernel (the `kernels` package, fetched from the Hub) is missing; its built-in kernel gives
    # the same results. The note would turn every one-line error of evalkit train or merge into two.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """The ``evalkit`` entry point (the installed script, ``python -m evalkit`` and this module alike)."""
    args = build_parser().parse_args(argv)
    from evalkit.errors import UserError

    env = install_environment()
    # A flag may name an environment variable to read (evalkit judge --api-key-env NAME): read here,
    # at the edge, like every other variable; the command sees the value (None: unset).
    if getattr(args, "api_key_env", None):
        args.api_key_from_env = os.environ.get(args.api_key_env)
    try:
        return int(args.handler(args, env) or 0)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: answers computed so far are in the store; rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
