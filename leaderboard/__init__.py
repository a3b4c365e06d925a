"""evalkit.leaderboard: the Streamlit leaderboard over the results store.

Installed as ``evalkit.leaderboard``; pages arrive with their own issue.
"""
