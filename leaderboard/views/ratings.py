"""Ratings: Bradley–Terry ratings with 95% intervals from people's arena votes and from the judge's verdicts,
the predicted win-rate matrix, and how often people and the judge agree. Numbers come from
:func:`evalkit.ratings.table.rate` through :mod:`evalkit.leaderboard.comparisons`."""

from __future__ import annotations

import altair as alt
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

st.subheader("People and the judge")
agreement = comparisons.agreement(human, judge)
if agreement.compared:
    st.metric("Agreement", f"{agreement.rate:.0%}")
    st.caption(f"{agreement.agreed} of {agreement.compared} (vote, verdict) pairs agree, over "
               f"{agreement.questions} (question, pair of models) that have both a human vote and a judge verdict. "
               "A tie agrees only with a tie; 'both bad' counts as a tie.")
else:
    st.info("No question has both a human vote and a judge verdict on the same two models yet.")
