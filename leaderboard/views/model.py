"""Model: its metrics, a comparison with other models, its lineage chain with deltas, its training loss curve."""

from __future__ import annotations

import altair as alt
import streamlit as st

from evalkit.leaderboard import data, queries
from evalkit.leaderboard import results_view as rv

st.title("Model")
details = data.load(queries.model_details)
if details.empty:
    st.info("No evaluated models in this store yet: run `evalkit run SUITE --model MODEL` first.")
    st.stop()

models = details["model"].tolist()
asked = st.query_params.get("model")
model = st.selectbox("Model", models, index=models.index(asked) if asked in models else 0, key="model_pick")
if model is None:
    st.stop()
st.query_params["model"] = model  # the address names the model shown, so it can be shared
info = details.set_index("model").loc[model]
st.caption(f"{rv.lineage_badge(info['lineage_kind'], info['lineage_method'], info['parent'], info['adapter_parent'])}"
           f" · fingerprint {info['fingerprint'][:16]} · last run {rv.short_time(info['last_run'])}")

results = data.load(queries.leaderboard_results)
mine = results[results["model"] == model]
st.subheader("Metrics")
st.dataframe(rv.model_metrics(mine), hide_index=True, key="model_metrics",
             column_config={"value": st.column_config.NumberColumn(format="%.4f"),
                            "stderr": st.column_config.NumberColumn(format="%.4f")})

st.subheader("Compared with other models")
columns = sorted(rv.with_columns(mine)["column"].unique())
left, right = st.columns([1, 2])
column = left.selectbox("Metric", columns, key="model_metric")
others = right.multiselect("Other models", [m for m in models if m != model],
                           default=[m for m in models if m != model][:4], key="model_others")
bars = rv.comparison(results, [model, *others], column) if column else None
if bars is not None and not bars.empty:
    base = alt.Chart(bars).encode(x=alt.X("model:N", sort=None, title=None))
    chart = (base.mark_bar().encode(y=alt.Y("value:Q", title=column), tooltip=["model", "value", "stderr"])
             + base.mark_errorbar().encode(y=alt.Y("lower:Q", title=column), y2="upper:Q"))
    st.altair_chart(chart, width="stretch")
    st.caption("Error bars: ± one standard error (none drawn where the evaluation reports none).")

st.subheader("Lineage")
chain, stage_rows, stages = data.load(queries.lineage_chain, info["fingerprint"])
st.markdown(" → ".join(f"**{stage}**" for stage in stages))
st.text("\n".join(chain))
if stage_rows:
    st.dataframe(rv.lineage_frame(stage_rows, stages), hide_index=True, key="model_lineage",
                 column_config={c: st.column_config.NumberColumn(format="%+.4f" if c.startswith("Δ") else "%.4f")
                                for c in stages + [f"Δ {s}" for s in stages[1:]]})
    st.caption("Each stage's latest finished evaluation (a merged checkpoint's over its adapter's); "
               "Δ: the difference from the stage before.")
else:
    st.caption("No evaluation results in the store for this chain.")

curve = data.load(queries.loss_curve, info["fingerprint"])
if not curve.empty:
    st.subheader("Training loss")
    if info["lineage_kind"] == "merge":
        st.caption("The training curve of the adapter this checkpoint was merged from.")
    st.altair_chart(alt.Chart(curve).mark_line(point=True).encode(
        x=alt.X("step:Q"), y=alt.Y("loss:Q", scale=alt.Scale(zero=False)),
        tooltip=["step", "loss", "learning_rate"]), width="stretch")
