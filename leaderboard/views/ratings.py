"""Ratings: Bradley–Terry ratings with 95% intervals from people's votes and from the judge's verdicts, the
predicted win-rate matrix, and how often people and each judge agree. Numbers come from
:func:`evalkit.ratings.table.rate` and :func:`evalkit.judge.agreement.agreement_report` through
:mod:`evalkit.leaderboard.comparisons`."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from evalkit.leaderboard import comparisons, data, queries

st.title("Ratings")

human = data.load(queries.human_votes)
judge = data.load(queries.judge_votes)
if not human and not judge:
    st.info("No votes or verdicts yet. People vote in the arena (`evalkit leaderboard --arena`, then the Arena "
            "page); `evalkit judge` stores a judge's verdicts.")
    st.stop()


@st.cache_data(show_spinner="Fitting ratings…", max_entries=16)
def _ratings(rows: list[tuple[str, str, str, str]], human: bool) -> comparisons.Ratings | str | None:
    # Pure and keyed by the rows themselves, so a bootstrap runs once per set of votes.
    return comparisons.try_bt_ratings(rows, human)


def show(result: comparisons.Ratings | str | None, empty: str, what: str) -> None:
    if result is None:
        st.info(empty)
        return
    if isinstance(result, str):
        st.error(result)
        return
    st.caption(f"Bradley–Terry maximum likelihood over {result.votes} {what}; 95% intervals from 100 bootstrap "
               "rounds (seed 0), as `evalkit elo` computes them. Models share a rank when their intervals overlap.")
    for warning in result.warnings:
        st.warning(warning)
    st.dataframe(result.rows, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.1f") for c in ("rating", "lower", "upper")})
    finite = result.chart_rows()
    order = list(result.rows["model"])
    y = alt.Y("model:N", sort=order, title=None)
    bars = alt.Chart(finite).mark_rule(strokeWidth=2).encode(
        y=y, x=alt.X("lower:Q", title="rating", scale=alt.Scale(zero=False)), x2="upper:Q")
    points = alt.Chart(finite).mark_point(filled=True, size=80).encode(
        y=y, x="rating:Q", tooltip=["rank", "model", alt.Tooltip("rating:Q", format=".1f"),
                                    alt.Tooltip("interval:N", title="95% interval"), "votes"])
    st.altair_chart(bars + points, width="stretch")
    st.markdown("**Predicted win rate** (row model beats column model)")
    base = alt.Chart(result.matrix).encode(x=alt.X("column:N", sort=order, title=None),
                                           y=alt.Y("row:N", sort=order, title=None))
    cells = base.mark_rect().encode(color=alt.Color("win_rate:Q", title="P(row wins)",
                                                    scale=alt.Scale(domain=[0, 1], scheme="redblue")))
    text = base.mark_text().encode(text=alt.Text("win_rate:Q", format=".2f"))
    st.altair_chart(cells + text, width="stretch")


people, judged = st.tabs(["Human votes", "Judge verdicts"])
with people:
    show(_ratings(human, True), "No arena votes yet: start `evalkit leaderboard --arena` and vote on the Arena page.",
         "arena votes")
with judged:
    show(_ratings(judge, False), "No scored judge verdicts yet: `evalkit judge` stores them.", "judge verdicts")

st.subheader("People and the judges")


@st.cache_data(show_spinner="Bootstrapping agreement…", max_entries=16)
def _agreement(verdicts: list[dict[str, str]], votes: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    # Pure and keyed by the rows themselves, so the bootstrap runs once per set of verdicts and votes.
    return comparisons.agreement_frame(verdicts, votes)


frame = _agreement(data.load(queries.pair_verdicts), human)
table = comparisons.agreement_table(frame)
if table.empty:
    st.info("No judge verdicts and human votes to compare yet: people vote in the arena or are imported with "
            "`evalkit judge --votes`; `evalkit judge` stores a judge's verdicts.")
else:
    st.caption(
        "One row per judge and prompt version: **pairs** (question, two models) it judged, **votes** people cast "
        "on them. **agreement**: the judge names the vote's winner (a tie matches only a tie; 'both bad' is a "
        "tie); **without ties**: the same over votes where neither says tie; **with the majority**: the judge "
        "names the pair's most common vote; **leave one out**: … the most common of the pair's other votes; "
        "**people on these pairs**: two votes on one pair agree (the ceiling); **position consistency**: both "
        "orders get the same verdict; **first-position rate**: decisive calls picking the answer shown first; "
        "**Kendall τ / Spearman ρ**: rank correlation of the judge's and people's Bradley–Terry ratings. "
        f"**{comparisons.PEOPLE}**: people against each other on every pair with votes. In brackets the 95% "
        f"interval, a bootstrap over pairs ({comparisons.AGREEMENT_BOOTSTRAP} rounds, seed "
        f"{comparisons.AGREEMENT_SEED}, as `evalkit judge` computes it); — : nothing to measure.")
    st.dataframe(table, hide_index=True, width="stretch")
    chart = comparisons.agreement_chart_rows(frame)
    judges = list(dict.fromkeys(chart["judge"]))
    y = alt.Y("judge:N", sort=judges, title=None)
    color = alt.Color("statistic:N", title=None, legend=alt.Legend(orient="bottom"))
    whiskers = alt.Chart(chart).mark_rule(strokeWidth=2).encode(
        y=y, yOffset="statistic:N", color=color, x=alt.X("low:Q", title="agreement with people (95% interval)",
                                                            scale=alt.Scale(domain=[0, 1])), x2="high:Q")
    dots = alt.Chart(chart).mark_point(filled=True, size=70).encode(
        y=y, yOffset="statistic:N", color=color, x="value:Q",
        tooltip=["judge", "statistic", alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                 alt.Tooltip("high:Q", format=".3f")])
    st.altair_chart(whiskers + dots, width="stretch")
