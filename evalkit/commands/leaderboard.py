"""``evalkit leaderboard``: the Streamlit leaderboard over the results store, on loopback by default."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, positive_int, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment

HELP = "the Streamlit leaderboard: results, samples, lineage, judgments, arena votes, ratings"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {value!r}")
    return port


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_flag(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1: this machine only; 0.0.0.0 for everyone)")
    parser.add_argument("--port", type=_port, default=8501, help="port (default 8501)")
    parser.add_argument("--arena", action="store_true", help="add the arena page, where people vote")
    parser.add_argument("--annotator-tokens", type=Path, metavar="FILE",
                        help="only holders of a token in FILE may vote (see `evalkit leaderboard --add-annotator`)")
    parser.add_argument("--add-annotator", metavar="NAME",
                        help="make a voting token for NAME: append its hashed line to --annotator-tokens FILE "
                             "(created when missing), print the token once, and exit without serving")
    parser.add_argument("--votes-per-minute", type=positive_int, default=20,
                        help="most votes one annotator may cast per minute (default 20)")


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.errors import UserError
    from evalkit.leaderboard.settings import AppSettings
    from evalkit.store import Store
    from evalkit.store.backend import redact

    if args.add_annotator is not None:
        return _add_annotator(args)
    path = store_path(args, env)
    if args.annotator_tokens is not None:
        from evalkit.leaderboard.arena import read_tokens

        if not args.annotator_tokens.is_file():
            raise UserError(f"--annotator-tokens {args.annotator_tokens}: no such file")
        read_tokens(args.annotator_tokens)  # a bad line stops here as file:line: message, not in the app
    # Open once here: an older schema is migrated, a newer or foreign file refused, in one line.
    Store(path).close()
    settings = AppSettings(store=path.resolve() if isinstance(path, Path) else path, arena=args.arena,
                           annotator_tokens=args.annotator_tokens.resolve() if args.annotator_tokens else None,
                           votes_per_minute=args.votes_per_minute)
    import evalkit.leaderboard

    app = Path(evalkit.leaderboard.__file__).resolve().parent / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host,
               "--server.port", str(args.port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
               "--client.toolbarMode", "viewer"]
    print(f"evalkit leaderboard: http://{args.host}:{args.port} (store {redact(str(path))})", file=sys.stderr)
    try:
        # The only environment access outside the CLI edge: passed on whole to the app's own process, whose
        # edge (evalkit.leaderboard.settings) reads it.
        return subprocess.call(command, env={**os.environ, **settings.to_environ()})
    except KeyboardInterrupt:
        return 0


def _add_annotator(args: argparse.Namespace) -> int:
    from evalkit.errors import UserError
    from evalkit.leaderboard.arena import add_annotator

    if args.annotator_tokens is None:
        raise UserError("--add-annotator needs --annotator-tokens FILE (the file the token's hash is added to)")
    token = add_annotator(args.annotator_tokens, args.add_annotator)
    print(f"added {args.add_annotator.strip()!r} to {args.annotator_tokens}; their token (shown only now):",
          file=sys.stderr)
    print(token)
    return 0
