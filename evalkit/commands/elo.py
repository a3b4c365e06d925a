"""``evalkit elo VOTES``: Bradley–Terry and online Elo ratings, with bootstrap intervals, from votes."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.commands._args import add_store_flag, positive_int, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.ratings.table import RatingTable
    from evalkit.ratings.votes import Votes

HELP = "ratings (Bradley–Terry, online Elo) from pairwise votes"


def _non_negative_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return n


def _anchor(value: str) -> tuple[str, float]:
    name, sep, rating = value.rpartition("=")
    try:
        number = float(rating)
    except ValueError:
        number = math.nan
    if not sep or not name or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected MODEL=RATING, got {value!r}")
    return name, number


def _columns(value: str) -> tuple[str, str, str]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected three column names MODEL_A,MODEL_B,WINNER, got {value!r}")
    return parts[0], parts[1], parts[2]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("votes", nargs="?", type=Path,
                        help="CSV or JSONL votes with model_a, model_b, winner (omit with --store or --from-judgments)")
    parser.add_argument("--method", choices=["bt", "elo", "both"], default="bt",
                        help="Bradley–Terry maximum likelihood (order-free), online Elo (in vote order), or both")
    parser.add_argument("--bootstrap", type=_non_negative_int, default=100, metavar="N",
                        help="bootstrap rounds for the 95%% intervals (0: none; default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--anchor", type=_anchor, metavar="MODEL=RATING", help="shift ratings so MODEL has RATING")
    parser.add_argument("--min-votes", type=positive_int, metavar="N", help="leave out models with fewer votes")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--columns", type=_columns, metavar="A,B,WINNER",
                        help="the file's names for the model_a, model_b and winner columns")
    parser.add_argument("--values", metavar="V=WINNER,...",
                        help="map the file's winner values, e.g. left=model_a,right=model_b")
    add_store_flag(parser)
    parser.add_argument("--from-judgments", action="store_true", help="rate the judge verdicts in the store")
    parser.add_argument("--k", type=float, default=4.0, help="online Elo step (default 4, as FastChat)")
    parser.add_argument("--scale", type=float, default=400.0, help="rating points per factor BASE in odds")
    parser.add_argument("--base", type=float, default=10.0)
    parser.add_argument("--initial", type=float, default=1000.0, help="mean (BT) or starting (Elo) rating")
    parser.add_argument("--ridge", type=float, default=0.0, help="Bradley–Terry L2 penalty (makes every rating finite)")


def run(args: argparse.Namespace, env: Environment) -> int:
    import json

    from evalkit.errors import UserError
    from evalkit.ratings.table import RatingSettings, rate

    if args.from_judgments and args.votes is not None:
        raise UserError("evalkit elo: give a votes file or --from-judgments, not both")
    if args.votes is None and args.store is None and not args.from_judgments:
        raise UserError("evalkit elo: give a votes file, --store (its votes table) or --from-judgments")
    if args.scale <= 0 or args.base <= 1 or args.k <= 0 or args.ridge < 0:
        raise UserError("evalkit elo: --scale and --k must be > 0, --base > 1 and --ridge >= 0")
    settings = RatingSettings(k=args.k, scale=args.scale, base=args.base, initial=args.initial, ridge=args.ridge,
                              bootstrap_rounds=args.bootstrap, seed=args.seed, anchor=args.anchor)
    votes = _read(args, env)
    methods = ["bt", "elo"] if args.method == "both" else [args.method]
    tables = [rate(votes, method, settings) for method in methods]
    for table in tables:
        for warning in table.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({t.method: {r.model: _json_row(r) for r in t.rows} for t in tables}, indent=2))
    else:
        print("\n\n".join(_format(t, votes, settings.bootstrap_rounds, args.seed) for t in tables))
    return 0


def _read(args: argparse.Namespace, env: Environment) -> Votes:
    import numpy as np

    from evalkit.ratings.votes import DEFAULT_COLUMNS, parse_value_map, read_votes_file, votes_from_rows

    if args.votes is not None:
        votes = read_votes_file(args.votes, args.columns or DEFAULT_COLUMNS, parse_value_map(args.values))
    else:
        from evalkit.ratings.votes import JUDGMENT_WINNER
        from evalkit.store import Store

        with Store(store_path(args, env)) as store:
            if args.from_judgments:
                rows = [(a, b, JUDGMENT_WINNER[o]) for a, b, o in store.judgment_votes()]
                votes = votes_from_rows(rows, f"{store.location} judgments")
            else:
                votes = votes_from_rows(store.list_votes(), f"{store.location} votes")
    if args.min_votes:
        keep = votes.votes_per_model() >= args.min_votes
        dropped = [name for name, k in zip(votes.models, keep.tolist(), strict=True) if not k]
        if dropped:
            print(f"note: --min-votes {args.min_votes} leaves out {len(dropped)} models", file=sys.stderr)
            votes = votes.keep_models(np.asarray(keep))
        if len(votes) == 0:
            from evalkit.errors import UserError

            raise UserError(f"--min-votes {args.min_votes}: no votes left")
    return votes


def _json_number(x: float) -> float | str | None:
    # JSON has no infinity: a rating without a finite MLE is the string "inf" / "-inf", a missing one null.
    if math.isnan(x):
        return None
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _json_row(row: object) -> dict[str, object]:
    from evalkit.ratings.table import ModelRating

    assert isinstance(row, ModelRating)
    return {"rating": _json_number(row.rating), "lower": _json_number(row.lower), "upper": _json_number(row.upper),
            "rank": row.rank, "votes": row.votes, "status": row.status}


def _format(table: RatingTable, votes: Votes, rounds: int, seed: int) -> str:
    title = {"bt": "Bradley–Terry (maximum likelihood)", "elo": "online Elo (in vote order)"}[table.method]
    width = max(len("model"), *(len(r.model) for r in table.rows))
    lines = [f"{title}: {len(votes)} votes, {len(votes.models)} models, "
             + (f"95% intervals from {rounds} bootstrap rounds (seed {seed})" if rounds else "no bootstrap"),
             f"{'rank':>4}  {'model':<{width}}  {'rating':>8}  {'95% interval':>19}  {'votes':>6}"]
    for r in table.rows:
        note = "" if r.status == "ok" else f"  ({r.status})"
        lines.append(f"{r.rank:>4}  {r.model:<{width}}  {r.rating:>8.1f}  [{r.lower:>7.1f}, {r.upper:>7.1f}]  "
                     f"{r.votes:>6}{note}")
    return "\n".join(lines)
