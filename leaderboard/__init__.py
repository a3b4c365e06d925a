"""evalkit.leaderboard: the Streamlit leaderboard over the results store (``evalkit leaderboard``).

``app.py`` declares the pages, ``views/`` renders them, ``queries.py`` is every read from the store
(parameterized SQL), ``data.py`` caches those reads by store version; computations live in pure
modules beside them and in :mod:`evalkit.ratings`.
"""
