"""Leaderboard: one row per model, one column per task metric of its latest run, an average over chosen columns."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evalkit.leaderboard import data, queries
from evalkit.leaderboard import results_view as rv

FIRST_RUN = "evalkit run suites/quickstart.yaml --model smollm2-135m-instruct"
# Highlighting the best cells styles every cell; past this many the table is left plain (kept fast).
MAX_STYLED_CELLS = 4000

st.title("Leaderboard")
results = data.load(queries.leaderboard_results)
if results.empty:
    st.info(f"No evaluation results in this store yet. Run a first evaluation:\n\n```\n{FIRST_RUN}\n```\n\n"
            "then reload this page.")
    st.stop()
details = data.load(queries.model_details)

filters = st.columns([2, 3, 2])
suites = filters[0].multiselect("Suite", sorted(results["suite"].unique()), key="lb_suites")
tasks = filters[1].multiselect("Task", sorted(rv.select_results(results, suites)["task"].unique()), key="lb_tasks")
name = filters[2].text_input("Model name contains", key="lb_name")

table, stderr = rv.leaderboard_frame(results, details, suites=suites, tasks=tasks, name_contains=name)
if table.empty:
    st.info("No model matches these filters.")
    st.stop()
columns = rv.metric_columns(table)
with st.expander("Columns averaged", expanded=False):
    chosen = st.multiselect("Average over", columns, default=rv.default_average_columns(table), key="lb_average")
table = rv.with_average(table, chosen)
show_stderr = st.toggle("Show ± stderr (as text: sorts as text)", key="lb_stderr")
st.caption(f"{len(table)} models · each model's latest finished or imported run per suite · "
           f"best value per column highlighted (lowest for perplexities) · average over {len(chosen)} columns "
           f"(empty for a model missing one of them)")

shown: pd.DataFrame | pd.io.formats.style.Styler = table
if show_stderr:
    shown = table.copy()
    shown[columns] = rv.with_stderr(table[columns], stderr)
if table.shape[0] * (len(columns) + 1) <= MAX_STYLED_CELLS:
    styles = rv.best_styles(table[[rv.AVERAGE, *columns]], "background-color: #d4f4dd; font-weight: bold")
    shown = shown.style.apply(lambda _: styles, axis=None, subset=list(styles.columns))

config = {"page": st.column_config.LinkColumn("page", display_text="open"),
          "last run": st.column_config.TextColumn("last run"),
          "parameters": st.column_config.NumberColumn("parameters", format="compact"),
          rv.AVERAGE: st.column_config.NumberColumn(rv.AVERAGE, format="%.4f")}
if not show_stderr:
    config.update({c: st.column_config.NumberColumn(c, format="%.4f") for c in columns})
# The scores first (as the Open LLM Leaderboard does), what the model is after them.
order = ["model", "lineage", rv.AVERAGE, *columns, "parameters", "parent", "source", "last run", "page"]
st.dataframe(shown, column_config=config, column_order=order, hide_index=True, key="lb_table")

st.download_button("Download CSV", rv.to_csv(table), file_name="leaderboard.csv", mime="text/csv", key="lb_csv")

picked = st.selectbox("Open a model's page", table["model"].tolist(), index=None, key="lb_open")
if picked is not None:
    st.switch_page("views/model.py", query_params={"model": picked})
