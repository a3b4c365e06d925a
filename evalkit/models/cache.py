"""evalkit's own cache folder (converted checkpoints, fingerprints), ``EVALKIT_CACHE``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$EVALKIT_CACHE``, default ``~/.cache/evalkit``."""
    return Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit").expanduser()
