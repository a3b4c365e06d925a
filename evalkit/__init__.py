"""evalkit: declarative evaluation, leaderboard and training harness for language models.

The package's import is deliberately light (no torch, no transformers) so that the CLI answers
instantly; heavy libraries are imported inside the functions that need them.
"""

__version__ = "0.1.0"
