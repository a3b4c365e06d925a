"""Frames for the Pairwise and Ratings pages, without Streamlit: judge summaries per pair, the win/tie/loss
heatmap, ratings tables, and how often people and each judge agree.

Every number about judgments comes from :mod:`evalkit.judge.stats` (the same function ``evalkit judge``
writes summary.json with); every rating from :func:`evalkit.ratings.table.rate`; every agreement from
:mod:`evalkit.judge.agreement`. This module only groups, orients and lays out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from evalkit.errors import UserError
from evalkit.judge.agreement import HumanVote, JudgedPair, agreement_report, human_agreement
from evalkit.judge.interfaces import Answer, Outcome, PairJudgment, PairVerdict
from evalkit.judge.records import judged_from_records, pair_from_record
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


# -- people against the judges --------------------------------------------------------------------

#: The agreement report's bootstrap as ``evalkit judge`` computes it (same seed and rounds, same intervals).
AGREEMENT_SEED = 0
AGREEMENT_BOOTSTRAP = 1000
#: The name of the table's ceiling row: people against each other.
PEOPLE = "people (human–human)"
#: (path into the report, column) of each statistic the agreement table shows, in order.
AGREEMENT_STATS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("per_vote",), "agreement"),
    (("per_vote_non_tie",), "agreement without ties"),
    (("majority",), "with the majority"),
    (("leave_one_out",), "leave one out"),
    (("human_human", "per_vote"), "people on these pairs"),
    (("position_consistency",), "position consistency"),
    (("first_position_rate",), "first-position rate"),
    (("rank_correlation", "kendall_tau"), "Kendall τ"),
    (("rank_correlation", "spearman"), "Spearman ρ"),
)
# The ceiling row's statistics: people's agreement with each other, in the judges' columns.
_PEOPLE_STATS = {"agreement": ("per_vote",), "agreement without ties": ("per_vote_non_tie",),
                 "leave one out": ("leave_one_out",)}


def judged_pairs(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[JudgedPair]]:
    """:func:`evalkit.leaderboard.queries.pair_verdicts` records as the agreement report's input, per (judge,
    prompt version), judges in first-stored order.

    Each record becomes a pair as ``evalkit judge`` reads its own (:func:`evalkit.judge.records.judged_from_records`:
    outcome win/loss/tie is model_a/model_b/tie, a call's verdict A/B/C or ``None`` when unscored, unscored
    outcomes left out). A pair stored twice for one judge and prompt (in both modes, or with the models the
    other way round) is its latest record, as a rerun replaces a judgment.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["judge"], record["prompt_version"]), []).append(record)
    judged: dict[tuple[str, str], list[JudgedPair]] = {}
    for judge, group in groups.items():
        latest: dict[tuple[str, str, str], JudgedPair] = {}
        for pair in judged_from_records(dict(r) for r in group):
            first, second = sorted((pair.model_a, pair.model_b))
            latest.pop((pair.question_id, first, second), None)  # re-inserted: pairs in their latest rows' order
            latest[(pair.question_id, first, second)] = pair
        if latest:
            judged[judge] = list(latest.values())
    return judged


def human_pair_votes(rows: Iterable[tuple[str, str, str, str]]) -> list[HumanVote]:
    """:func:`evalkit.leaderboard.queries.human_votes` rows as the agreement report's votes."""
    return [HumanVote(question, model_a, model_b, choice) for question, model_a, model_b, choice in rows]


def _stat(report: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    node: Any = report
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _stat_cells(column: str, stat: Mapping[str, Any] | None) -> dict[str, Any]:
    value = None if stat is None else stat["value"]
    low, high = (None, None) if stat is None or stat["ci"] is None else stat["ci"]
    nan = math.nan
    return {column: nan if value is None else float(value), f"{column} low": nan if low is None else float(low),
            f"{column} high": nan if high is None else float(high), f"{column} n": 0 if stat is None else stat["n"]}


def agreement_columns() -> list[str]:
    """The columns of :func:`agreement_frame`, in order."""
    cells = [c for _, column in AGREEMENT_STATS for c in (column, f"{column} low", f"{column} high", f"{column} n")]
    return ["judge", "prompt version", "pairs", "votes", *cells]


def agreement_frame(verdict_records: Sequence[Mapping[str, Any]],
                    vote_rows: Sequence[tuple[str, str, str, str]], *, seed: int = AGREEMENT_SEED,
                    bootstrap: int = AGREEMENT_BOOTSTRAP) -> pd.DataFrame:
    """One row per (judge, prompt version) with scored pairwise verdicts: its
    :func:`evalkit.judge.agreement.agreement_report` against the stored human votes (``pairs`` judged,
    ``votes`` matched to them, and per statistic of :data:`AGREEMENT_STATS` its value, 95% interval and
    ``n``; NaN where the report has none); then the :data:`PEOPLE` row, people against each other over
    every pair with votes (:func:`evalkit.judge.agreement.human_agreement`), in the columns whose
    statistic it has. Empty when there are no votes or no scored verdicts."""
    votes = human_pair_votes(vote_rows)
    judged = judged_pairs(verdict_records)
    if not votes or not judged:
        return pd.DataFrame(columns=agreement_columns())
    rows = []
    for (judge, version), pairs in judged.items():
        report = agreement_report(pairs, votes, bootstrap=bootstrap, seed=seed)
        row: dict[str, Any] = {"judge": judge, "prompt version": version, "pairs": report["pairs"],
                               "votes": report["votes"]}
        for path, column in AGREEMENT_STATS:
            row.update(_stat_cells(column, _stat(report, path)))
        rows.append(row)
    people = human_agreement(votes, bootstrap=bootstrap, seed=seed)
    row = {"judge": PEOPLE, "prompt version": None, "pairs": people["pairs"], "votes": people["votes"]}
    for _, column in AGREEMENT_STATS:
        row.update(_stat_cells(column, _stat(people, _PEOPLE_STATS[column]) if column in _PEOPLE_STATS else None))
    rows.append(row)
    return pd.DataFrame(rows, columns=agreement_columns())


#: The agreement chart's statistics: the two MT-Bench figures, which every row (people's too) has.
CHART_STATS = ("agreement", "agreement without ties")


def agreement_chart_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`agreement_frame` in long form for the chart: one row per (judge, statistic of
    :data:`CHART_STATS`) that has a value, with ``value``, ``low``, ``high`` (the 95% interval)."""
    rows = []
    for _, row in frame.iterrows():
        version = row["prompt version"]
        name = row["judge"] if pd.isna(version) else f"{row['judge']} ({version})"
        for column in CHART_STATS:
            if not math.isnan(row[column]):
                rows.append({"judge": name, "statistic": column, "value": row[column],
                             "low": row[f"{column} low"], "high": row[f"{column} high"]})
    return pd.DataFrame(rows, columns=["judge", "statistic", "value", "low", "high"])


def agreement_table(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`agreement_frame` to show: per statistic one cell ``value [low, high]`` (``—`` where there is
    none; the value alone where there is no interval)."""
    shown = frame[["judge", "prompt version", "pairs", "votes"]].copy()
    shown["prompt version"] = shown["prompt version"].fillna("")
    for _, column in AGREEMENT_STATS:
        shown[column] = [_cell(v, lo, hi) for v, lo, hi in
                         zip(frame[column], frame[f"{column} low"], frame[f"{column} high"], strict=True)]
    return shown


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"
