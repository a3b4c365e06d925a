"""The leaderboard's entry point: ``streamlit run`` this file (``evalkit leaderboard`` does).

It only declares the pages; each page is a script in ``pages/`` that reads through
:mod:`evalkit.leaderboard.data` and computes nothing itself.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from evalkit.leaderboard import data

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="evalkit leaderboard", layout="wide")

# Migrates an older store once per process; a newer or foreign file is one st.error line, and no page runs.
if data.open_store() is None:
    st.stop()

pages = [
    st.Page(PAGES / "leaderboard.py", title="Leaderboard", url_path="leaderboard", default=True),
    st.Page(PAGES / "model.py", title="Model", url_path="model"),
    st.Page(PAGES / "samples.py", title="Samples", url_path="samples"),
    st.Page(PAGES / "pairwise.py", title="Pairwise", url_path="pairwise"),
    st.Page(PAGES / "ratings.py", title="Ratings", url_path="ratings"),
]
if data.settings().arena:
    pages.append(st.Page(PAGES / "arena.py", title="Arena", url_path="arena"))
st.navigation(pages).run()
