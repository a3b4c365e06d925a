"""Every read the leaderboard makes from the results store: parameterized SQL only, no Streamlit.

Each function takes an open ``sqlite3.Connection`` (rows as ``sqlite3.Row``) and returns plain data
(pandas frames, lists, dicts) that the pages render. The pages call them through
:func:`evalkit.leaderboard.data.load`, which caches by store version. Values are never formatted
into SQL text: every value is a bound parameter.
"""

from __future__ import annotations

import sqlite3


def is_empty(conn: sqlite3.Connection) -> bool:
    """True when the store holds no runs, judgments or votes yet (the app then shows how to start)."""
    row = conn.execute(
        "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM judgments) + (SELECT COUNT(*) FROM votes)"
    ).fetchone()
    return int(row[0]) == 0
