"""The leaderboard's entry point: ``streamlit run`` this file (``evalkit leaderboard`` does).

It only declares the pages; each page is a script in ``views/`` that reads through
:mod:`evalkit.leaderboard.data` and computes nothing itself.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from evalkit.leaderboard import data

# Not "pages/": Streamlit treats a pages/ folder beside the entry point as its older multipage layout and
# serves those scripts bare (no entry point, file names in the sidebar) until the entry point first runs.
VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="evalkit leaderboard", layout="wide")

# Migrates an older store once per process; a newer or foreign file is one st.error line, and no page runs
# (so the pages do not check again).
if data.open_store() is None:
    st.stop()

pages = [
    st.Page(VIEWS / "leaderboard.py", title="Leaderboard", url_path="leaderboard", default=True),
    st.Page(VIEWS / "model.py", title="Model", url_path="model"),
    st.Page(VIEWS / "samples.py", title="Samples", url_path="samples"),
    st.Page(VIEWS / "pairwise.py", title="Pairwise", url_path="pairwise"),
    st.Page(VIEWS / "ratings.py", title="Ratings", url_path="ratings"),
]
if data.settings().arena:
    pages.append(st.Page(VIEWS / "arena.py", title="Arena", url_path="arena"))
st.navigation(pages).run()
