"""Pairwise: the judge's verdicts between checkpoints, as a win/tie/loss heatmap, a table per pair (adjusted
win rate with its interval, position consistency, unscored) and both verdicts of every question."""

from __future__ import annotations

import altair as alt
import streamlit as st

from evalkit.leaderboard import comparisons, data, queries

st.title("Pairwise judgments")

filters = data.load(queries.judgment_filters)
if not filters:
    st.info("No pairwise judgments in this store yet. `evalkit judge --a MODEL --b MODEL "
            "--questions suites/judge/questions.yaml --judge openai:URL#MODEL` stores them.")
    st.stop()

left, right = st.columns(2)
judge = left.selectbox("Judge", list(filters), key="pairwise_judge")
prompt_version = right.selectbox("Prompt version", filters[judge], key="pairwise_prompt_version")
records = data.load(queries.pair_judgments, judge, prompt_version)
if not records:
    st.info(f"No judgments by {judge} with prompt version {prompt_version}.")
    st.stop()

summaries = comparisons.pair_summaries(records, data.load(queries.answers_by_model))
cells = comparisons.heatmap_frame(records)

st.subheader("Wins / ties / losses of the row model")
base = alt.Chart(cells).encode(x=alt.X("column:N", title="model B"), y=alt.Y("row:N", title="model A"))
heatmap = base.mark_rect().encode(
    color=alt.Color("win_rate:Q", title="adjusted win rate", scale=alt.Scale(domain=[0, 1], scheme="redblue")),
    tooltip=["row", "column", "wins", "ties", "losses", "unscored",
             alt.Tooltip("win_rate:Q", title="adjusted win rate", format=".2f")])
labels = base.mark_text(fontSize=14).encode(text="label:N")
st.altair_chart(heatmap + labels, width="stretch")
st.caption("Cell text: wins/ties/losses of the row model against the column model; unscored questions are in "
           "the table below. Colour: adjusted win rate (a tie is half a win) over scored questions.")

st.subheader("Per pair")
st.dataframe(comparisons.pair_table(summaries), hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("adjusted win rate", "95% low", "95% high", "position consistency",
                                      "first-position rate")})
st.caption("Adjusted win rate of model A with a 95% bootstrap interval over questions (seed 0, 1000 rounds: "
           "as `evalkit judge` reports it); position consistency: share of scored questions whose verdict "
           "survives swapping the answers' order.")

st.subheader("Per question")
pairs = [(s["model_a"], s["model_b"]) for s in summaries]
pair = st.selectbox("Pair", pairs, format_func=lambda p: f"{p[0]} vs {p[1]}", key="pairwise_pair")
for record in records:
    if {record["model_a"], record["model_b"]} != set(pair):
        continue
    first, swapped = comparisons.preferred(record)
    title = f"{record['question_id']} · {record['model_a']} vs {record['model_b']}: {record['outcome']} for A"
    with st.expander(title):
        st.markdown(f"**{record['model_a']} shown first:** {first}  \n**{record['model_b']} shown first:** {swapped}")
        one, two = st.columns(2)
        one.text_area("Judge's text, A first", record["raw_ab"], height=200, disabled=True,
                      key=f"raw_ab_{record['question_id']}_{record['model_a']}_{record['model_b']}_{record['mode']}")
        two.text_area("Judge's text, B first", record["raw_ba"], height=200, disabled=True,
                      key=f"raw_ba_{record['question_id']}_{record['model_a']}_{record['model_b']}_{record['mode']}")
