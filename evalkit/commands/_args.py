"""Argument types shared by several commands: a bad value is one line through argparse."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.engine.shards import ShardSpec


def batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return n


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def shard_spec(value: str) -> ShardSpec:
    from evalkit.engine.shards import parse_shard

    try:
        return parse_shard(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, help="results store (default $EVALKIT_HOME/evalkit.db)")


def store_path(args: argparse.Namespace, env: Environment) -> Path:
    """The results store a command uses: ``--store``, else ``$EVALKIT_HOME/evalkit.db``."""
    from evalkit.store import default_store_path

    return args.store or default_store_path(env.home)
