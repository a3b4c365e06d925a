"""Frames for the Pairwise and Ratings pages, without Streamlit: judge summaries per pair, the win/tie/loss
heatmap, ratings tables, and how often people and the judge agree.

Every number about judgments comes from :mod:`evalkit.judge.stats` (the same function ``evalkit judge``
writes summary.json with); every rating from :func:`evalkit.ratings.table.rate`. This module only
groups, orients and lays out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from evalkit.errors import UserError
from evalkit.judge.interfaces import Answer, Outcome, PairJudgment, PairVerdict
from evalkit.judge.records import pair_from_record
from evalkit.judge.stats import summarize
from evalkit.ratings.table import RatingSettings, RatingTable, rate
from evalkit.ratings.votes import JUDGMENT_WINNER, Votes, votes_from_rows

_FLIPPED_OUTCOME = {Outcome.WIN: Outcome.LOSS, Outcome.LOSS: Outcome.WIN}

# -- judge summaries per pair ---------------------------------------------------------------------


def flip(j: PairJudgment) -> PairJudgment:
    """The same judgment seen from model B: models swapped, outcome mirrored. Verdicts are positional
    (A = shown first), and B's answer was shown first in the second call, so the two calls swap."""
    return replace(j, model_a=j.model_b, model_b=j.model_a, verdict_ab=j.verdict_ba, verdict_ba=j.verdict_ab,
                   raw_ab=j.raw_ba, raw_ba=j.raw_ab, outcome=_FLIPPED_OUTCOME.get(j.outcome, j.outcome))


def judgments_by_pair(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[PairJudgment]]:
    """Pairwise judgment records grouped by their two models, each pair oriented as it was first stored
    (later records of the reverse orientation are flipped to match); pairs in first-stored order."""
    pairs: dict[tuple[str, str], list[PairJudgment]] = {}
    for record in records:
        j = pair_from_record(dict(record))
        if (j.model_a, j.model_b) in pairs:
            pairs[(j.model_a, j.model_b)].append(j)
        elif (j.model_b, j.model_a) in pairs:
            pairs[(j.model_b, j.model_a)].append(flip(j))
        else:
            pairs[(j.model_a, j.model_b)] = [j]
    return pairs


def _answers(rows: Sequence[Mapping[str, Any]]) -> dict[str, Answer]:
    return {r["question_id"]: Answer(r["question_id"], r["answer"], r.get("second_answer")) for r in rows}


def pair_summaries(records: Iterable[Mapping[str, Any]], answers: Mapping[str, Sequence[Mapping[str, Any]]],
                   *, seed: int = 0, bootstrap: int = 1000) -> list[dict[str, Any]]:
    """One :func:`evalkit.judge.stats.summarize` per pair of :func:`judgments_by_pair` (``answers``:
    model -> its stored answers, for the mean answer lengths), with the seed and rounds ``evalkit judge``
    uses by default, so the numbers equal its summary.json for the same judgments."""
    return [summarize(js, _answers(answers.get(a, ())), _answers(answers.get(b, ())), seed=seed, bootstrap=bootstrap)
            for (a, b), js in judgments_by_pair(records).items()]


def pair_table(summaries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One display row per pair: counts, adjusted win rate with its 95% interval, position consistency."""
    rows = []
    for s in summaries:
        low, high = s["adjusted_win_rate_ci"] or (None, None)
        rows.append({"model A": s["model_a"], "model B": s["model_b"], "questions": s["questions"],
                     "wins": s["wins"], "ties": s["ties"], "losses": s["losses"], "unscored": s["unscored"],
                     "adjusted win rate": s["adjusted_win_rate"], "95% low": low, "95% high": high,
                     "position consistency": s["position_consistency"],
                     "first-position rate": s["first_position_rate"]})
    return pd.DataFrame(rows, columns=["model A", "model B", "questions", "wins", "ties", "losses", "unscored",
                                       "adjusted win rate", "95% low", "95% high", "position consistency",
                                       "first-position rate"])


def heatmap_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Cells of the win/tie/loss heatmap: for each pair both orientations (row model against column
    model), with wins, ties, losses, unscored, the row model's adjusted win rate and a ``W/T/L`` label."""
    cells = []
    for (a, b), js in judgments_by_pair(records).items():
        for row, column, judged in ((a, b, js), (b, a, [flip(j) for j in js])):
            # One bootstrap round: only the point rate is shown here (the interval is in the pair table).
            s = summarize(judged, {}, {}, bootstrap=1)
            cells.append({"row": row, "column": column, "wins": s["wins"], "ties": s["ties"],
                          "losses": s["losses"], "unscored": s["unscored"], "win_rate": s["adjusted_win_rate"],
                          "label": f"{s['wins']}/{s['ties']}/{s['losses']}"})
    return pd.DataFrame(cells, columns=["row", "column", "wins", "ties", "losses", "unscored", "win_rate", "label"])


def preferred(record: Mapping[str, Any]) -> tuple[str, str]:
    """Which model each of the two judge calls preferred, in words: ``(first call, swapped call)``; a
    call's verdict is positional, and the swapped call showed model B first."""
    first = {PairVerdict.A: record["model_a"], PairVerdict.B: record["model_b"]}
    swapped = {PairVerdict.A: record["model_b"], PairVerdict.B: record["model_a"]}
    words = {PairVerdict.TIE: "tie", PairVerdict.UNSCORED: "unscored"}

    def say(verdict: str, names: dict[PairVerdict, str]) -> str:
        v = PairVerdict(verdict)
        return names.get(v) or words[v]

    return say(record["verdict_ab"], first), say(record["verdict_ba"], swapped)


# -- ratings --------------------------------------------------------------------------------------


def human_rating_votes(rows: Iterable[tuple[str, str, str, str]]) -> Votes:
    """Votes of :func:`evalkit.leaderboard.queries.human_votes` rows, as ``evalkit elo --store`` reads them."""
    return votes_from_rows([(a, b, choice) for _, a, b, choice in rows], "store votes")


def judge_rating_votes(rows: Iterable[tuple[str, str, str, str]]) -> Votes:
    """Votes of :func:`evalkit.leaderboard.queries.judge_votes` rows, as ``evalkit elo --from-judgments`` reads them."""
    return votes_from_rows([(a, b, JUDGMENT_WINNER[o]) for _, a, b, o in rows], "store judgments")


@dataclass(frozen=True)
class Ratings:
    """A Bradley–Terry table ready to draw: ``rows`` (rank, model, rating, lower, upper, votes, status),
    ``matrix`` (long form: row model, column model, predicted P(row beats column)), ``warnings``."""

    rows: pd.DataFrame
    matrix: pd.DataFrame
    warnings: list[str]
    votes: int

    def chart_rows(self) -> pd.DataFrame:
        """The rows a chart can draw: those with a finite rating, an infinite interval end (a bootstrap
        round without a finite maximum) clipped to the drawn range and marked in ``interval`` as open."""
        rows = self.rows[[math.isfinite(r) for r in self.rows["rating"]]].copy()
        finite = [x for column in ("rating", "lower", "upper") for x in rows[column] if math.isfinite(x)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
        rows["interval"] = [f"{'(-∞' if math.isinf(lo) else f'[{lo:.1f}'}, {'∞)' if math.isinf(hi) else f'{hi:.1f}]'}"
                            for lo, hi in zip(rows["lower"], rows["upper"], strict=True)]
        rows["lower"] = rows["lower"].clip(lower=low)
        rows["upper"] = rows["upper"].clip(upper=high)
        return rows


def bt_ratings(votes: Votes, settings: RatingSettings | None = None) -> Ratings:
    """:func:`evalkit.ratings.table.rate` with method ``bt`` (default settings: ``evalkit elo``'s)."""
    table: RatingTable = rate(votes, "bt", settings or RatingSettings())
    rows = pd.DataFrame([{"rank": r.rank, "model": r.model, "rating": r.rating, "lower": r.lower, "upper": r.upper,
                          "votes": r.votes, "status": r.status} for r in table.rows])
    matrix = pd.DataFrame([{"row": a, "column": b, "win_rate": float(table.win_rate[i, j])}
                           for i, a in enumerate(votes.models) for j, b in enumerate(votes.models) if i != j])
    return Ratings(rows, matrix, table.warnings, len(votes))


def try_bt_ratings(rows: Sequence[tuple[str, str, str, str]], human: bool) -> Ratings | str | None:
    """The ratings of human (``human``) or judge rows; ``None`` when there are none; the one-line reason
    when they cannot be read as votes."""
    if not rows:
        return None
    try:
        return bt_ratings(human_rating_votes(rows) if human else judge_rating_votes(rows))
    except UserError as error:
        return str(error)


# -- people against the judge ---------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Human votes against judge verdicts on the same question and the same two models."""

    compared: int  # (vote, verdict) pairs compared
    agreed: int
    questions: int  # distinct (question, pair of models) with both a vote and a verdict

    @property
    def rate(self) -> float:
        """``agreed / compared``; NaN when nothing was compared."""
        return self.agreed / self.compared if self.compared else math.nan


_HUMAN_WINNER = {"model_a": "a", "model_b": "b", "tie": "tie", "tie (bothbad)": "tie"}
_JUDGE_WINNER = {"win": "a", "loss": "b", "tie": "tie"}


def _normalized(question: str, a: str, b: str, winner: str) -> tuple[tuple[str, str, str], str]:
    # Orientation-free: the pair in name order, the winner as a name (or "tie").
    key = (question, *sorted((a, b)))
    return (key[0], key[1], key[2]), {"a": a, "b": b}.get(winner, "tie")


def agreement(human: Iterable[tuple[str, str, str, str]], judge: Iterable[tuple[str, str, str, str]]) -> Agreement:
    """How often people and the judge pick the same winner.

    ``human``: (question_id, model_a, model_b, choice) votes; ``judge``: (question_id, model_a, model_b,
    outcome) scored verdicts. A vote and a verdict are compared when they are on the same question and
    the same two models, whichever way round each stored them; every such (vote, verdict) pair counts
    once. They agree when they name the same winner, or when both say tie (both kinds of human tie
    count as a tie; a tie agrees only with a tie).
    """
    verdicts: dict[tuple[str, str, str], list[str]] = {}
    for question, a, b, outcome in judge:
        key, winner = _normalized(question, a, b, _JUDGE_WINNER[outcome])
        verdicts.setdefault(key, []).append(winner)
    compared = agreed = 0
    keys: set[tuple[str, str, str]] = set()
    for question, a, b, choice in human:
        key, winner = _normalized(question, a, b, _HUMAN_WINNER[choice])
        for verdict in verdicts.get(key, ()):
            keys.add(key)
            compared += 1
            agreed += verdict == winner
    return Agreement(compared, agreed, len(keys))
