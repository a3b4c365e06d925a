"""evalkit's own cache folder (converted checkpoints, fingerprints), ``EVALKIT_CACHE``."""

from __future__ import annotations

from pathlib import Path

from evalkit.config import current_environment


def cache_dir() -> Path:
    """The installed environment's cache folder (``EVALKIT_CACHE``, default ``~/.cache/evalkit``)."""
    return current_environment().cache
