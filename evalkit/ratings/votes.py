"""Vote logs read into arrays: CSV or JSONL files, the store's votes table, stored judge verdicts.

A vote names two models and a winner in {model_a, model_b, tie, tie (bothbad)} (Chatbot Arena's
values). Files with other column names or values are read through a column map
(``--columns left,right,winner``) and a value map (``left=model_a,right=model_b``). Every bad row
is reported as ``file:line: column: message``, before anything is computed.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from evalkit.errors import UserError


class Winner(Enum):
    """A vote's outcome, with Chatbot Arena's spelling."""

    MODEL_A = "model_a"
    MODEL_B = "model_b"
    TIE = "tie"
    TIE_BOTHBAD = "tie (bothbad)"

    @property
    def score_a(self) -> float:
        """What the vote is worth to model_a: both kinds of tie are half a win, as in FastChat."""
        return {Winner.MODEL_A: 1.0, Winner.MODEL_B: 0.0}.get(self, 0.5)


WINNER_VALUES = ", ".join(w.value for w in Winner)
DEFAULT_COLUMNS = ("model_a", "model_b", "winner")


@dataclass(frozen=True)
class Votes:
    """Votes in their order: ``model_a``, ``model_b`` (n_votes,) indices into ``models``; ``score_a`` (n_votes,)."""

    models: tuple[str, ...]
    model_a: NDArray[np.int64]
    model_b: NDArray[np.int64]
    score_a: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.model_a)

    def votes_per_model(self) -> NDArray[np.int64]:
        """(n_models,) votes each model took part in."""
        m = len(self.models)
        return np.bincount(self.model_a, minlength=m) + np.bincount(self.model_b, minlength=m)

    def keep_models(self, keep: NDArray[np.bool_]) -> Votes:
        """Only the votes between models where ``keep`` (n_models,) is true, models renumbered."""
        rows = keep[self.model_a] & keep[self.model_b]
        new_index = np.cumsum(keep) - 1
        models = tuple(name for name, k in zip(self.models, keep.tolist(), strict=True) if k)
        return Votes(models, new_index[self.model_a[rows]], new_index[self.model_b[rows]], self.score_a[rows])


def parse_value_map(text: str | None) -> dict[str, str]:
    """``left=model_a,right=model_b`` -> a map from file values to winner values (checked)."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        source, sep, target = item.partition("=")
        if not sep or target.strip() not in {w.value for w in Winner}:
            raise UserError(f"--values: expected VALUE=WINNER with WINNER one of {WINNER_VALUES}, got {item!r}")
        mapping[source.strip()] = target.strip()
    return mapping


class _Builder:
    """Interns model names and collects the three columns; reports bad rows with their place."""

    def __init__(self, value_map: Mapping[str, str]) -> None:
        self.index: dict[str, int] = {}
        self.a: list[int] = []
        self.b: list[int] = []
        self.s: list[float] = []
        self.scores = {w.value: w.score_a for w in Winner}
        self.scores.update({k: self.scores[v] for k, v in value_map.items()})

    def add(self, a: object, b: object, winner: object, where: str, winner_column: str) -> None:
        score = self.scores.get(winner) if isinstance(winner, str) else None
        if score is None:
            raise UserError(f"{where}: {winner_column}: {winner!r} is not one of {WINNER_VALUES} "
                            f"(map other values with --values, e.g. left=model_a,right=model_b)")
        if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
            raise UserError(f"{where}: a vote needs two model names, got {a!r} and {b!r}")
        if a == b:
            raise UserError(f"{where}: {a!r} against itself is not a comparison")
        index = self.index
        self.a.append(index.setdefault(a, len(index)))
        self.b.append(index.setdefault(b, len(index)))
        self.s.append(score)

    def add_many(self, a_vals: list[str], b_vals: list[str], winners: list[str]) -> bool:
        """Add whole columns at once when every row is valid and return True; else add nothing.

        The fast path for large files (a million votes in well under a second); a False answer
        sends the caller to :meth:`add`, row by row, which names the first bad row.
        """
        scores = self.scores
        if (not set(winners) <= scores.keys() or "" in a_vals or "" in b_vals
                or any(map(str.__eq__, a_vals, b_vals))):
            return False
        index = self.index
        for name in dict.fromkeys(itertools.chain.from_iterable(zip(a_vals, b_vals, strict=True))):
            index.setdefault(name, len(index))
        self.a.extend([index[x] for x in a_vals])
        self.b.extend([index[x] for x in b_vals])
        self.s.extend([scores[w] for w in winners])
        return True

    def votes(self) -> Votes:
        return Votes(tuple(self.index), np.asarray(self.a, dtype=np.int64), np.asarray(self.b, dtype=np.int64),
                     np.asarray(self.s, dtype=np.float64))


def read_votes_file(path: Path, columns: tuple[str, str, str] = DEFAULT_COLUMNS,
                    value_map: Mapping[str, str] | None = None) -> Votes:
    """Votes from a CSV (header row) or JSONL (one object per line) file, in file order.

    ``columns`` names the file's model_a, model_b and winner columns; ``value_map`` maps other
    winner values to Arena's. Raises :class:`UserError` naming the file and line of a bad row.
    """
    builder = _Builder(value_map or {})
    col_w = columns[2]
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() in (".jsonl", ".ndjson"):
                _read_jsonl(path, columns, builder)
            else:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    raise UserError(f"{path}: empty file (expected a header row)")
                missing = [c for c in columns if c not in header]
                if missing:
                    raise UserError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)}; "
                                    f"name yours with --columns MODEL_A,MODEL_B,WINNER)")
                ia, ib, iw = (header.index(c) for c in columns)
                rows = [row for row in reader if row]
                if rows and all(len(row) == len(header) for row in rows) and builder.add_many(
                        [r[ia] for r in rows], [r[ib] for r in rows], [r[iw] for r in rows]):
                    return builder.votes()
                # Something is wrong: read again row by row to name the first bad line.
                handle.seek(0)
                reader = csv.reader(handle)
                next(reader)
                for row in reader:
                    if len(row) != len(header):
                        if not row:
                            continue
                        raise UserError(f"{path}:{reader.line_num}: expected {len(header)} fields, found {len(row)}")
                    builder.add(row[ia], row[ib], row[iw], f"{path}:{reader.line_num}", col_w)
    except OSError as error:
        raise UserError(f"{path}: cannot read votes ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason})") from None
    if not builder.a:
        raise UserError(f"{path}: no votes")
    return builder.votes()


def _read_jsonl(path: Path, columns: tuple[str, str, str], builder: _Builder) -> None:
    from evalkit.data import read_json_lines

    col_a, col_b, col_w = columns
    for number, obj in read_json_lines(path):
        for column in columns:
            if column not in obj:
                raise UserError(f"{path}:{number}: no field {column!r} "
                                f"(name yours with --columns MODEL_A,MODEL_B,WINNER)")
        builder.add(obj[col_a], obj[col_b], obj[col_w], f"{path}:{number}", col_w)


def votes_from_rows(rows: Iterable[tuple[str, str, str]], source: str) -> Votes:
    """Votes from (model_a, model_b, winner) rows (the store's tables); ``source`` names them in errors."""
    builder = _Builder({})
    for number, (a, b, winner) in enumerate(rows, start=1):
        builder.add(a, b, winner, f"{source} row {number}", "winner")
    if not builder.a:
        raise UserError(f"{source}: no votes")
    return builder.votes()


#: A judge's outcome for model_a as an Arena winner value; unscored verdicts are not votes.
JUDGMENT_WINNER = {"win": Winner.MODEL_A.value, "loss": Winner.MODEL_B.value, "tie": Winner.TIE.value}


def annotator_id(name: str, salt: str) -> str:
    """The salted SHA-256 under which an annotator is stored (the name itself never is)."""
    return hashlib.sha256(f"{salt}\0{name}".encode()).hexdigest()
