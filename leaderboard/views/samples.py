"""Samples: a run's items of one task (prompt, output, target, filtered answer, scores, HumanEval verdict),
a page at a time; failures only; a second model side by side on the same items."""

from __future__ import annotations

import streamlit as st

from evalkit.leaderboard import data, queries
from evalkit.leaderboard import results_view as rv

PAGE_SIZE = 50

st.title("Samples")
runs = data.load(queries.sample_runs)
if runs.empty:
    st.info("No per-item samples in this store yet: `evalkit run SUITE --model MODEL` stores them.")
    st.stop()

labels = {r.run_id: f"{r.model} · {r.suite} · {r.finished_at or r.status} · {r.run_id}"
          for r in runs.drop_duplicates("run_id").itertuples()}
asked = st.query_params.get("model")
run_ids = list(labels)
first = next((i for i, r in enumerate(run_ids) if labels[r].startswith(f"{asked} · ")), 0)
top = st.columns([3, 1])
run_id = top[0].selectbox("Run", run_ids, index=first, format_func=labels.__getitem__, key="samples_run")
tasks = runs.loc[runs["run_id"] == run_id, "task"].tolist()
task = top[1].selectbox("Task", tasks, key="samples_task")
if run_id is None or task is None:
    st.stop()

options = st.columns([1, 1, 2])
scores = data.load(queries.sample_metric_names, run_id, task)
failing_on = None
if scores:
    failures = options[0].toggle("Failures only", key="samples_failures",
                                 help="Items whose chosen score is below 1: a wrong answer, a failed test.")
    metric = options[1].selectbox("Score", scores, key="samples_metric", disabled=not failures)
    failing_on = metric if failures else None
else:
    options[0].caption("No score in [0, 1] to define failures on for this task.")
others = [r for r in runs.loc[(runs["task"] == task) & (runs["run_id"] != run_id), "run_id"]]
other = options[2].selectbox("Side by side with", others, index=None, format_func=labels.__getitem__,
                             placeholder="another run of this task", key="samples_other")

total = data.load(queries.samples_count, run_id, task, failing_on=failing_on)
pages = rv.page_count(total, PAGE_SIZE)
page = st.number_input(f"Page (of {pages}; {total} items)", min_value=1, max_value=pages, value=1)
records = data.load(queries.samples_page, run_id, task, failing_on=failing_on,
                       offset=(int(page) - 1) * PAGE_SIZE, limit=PAGE_SIZE)
table = rv.sample_table(records, rv.page_metrics(records))
if other is not None:
    theirs = data.load(queries.samples_for_docs, other, task, tuple(r["doc_id"] for r in records))
    model_of = dict(zip(runs["run_id"], runs["model"]))
    table = rv.side_by_side(table, rv.sample_table(theirs, rv.page_metrics(theirs)),
                            *rv.side_labels(model_of[run_id], model_of[other]))
st.dataframe(table, hide_index=True, key="samples_table")

if records:
    doc_id = st.selectbox("Item", table["doc_id"].tolist(), key="samples_item")
    item = table[table["doc_id"] == doc_id].iloc[0]
    for name, value in item.items():
        if isinstance(value, str) and value and name not in ("filter",):
            st.markdown(f"**{name}**")
            st.code(value, language=None, wrap_lines=True)
