"""The leaderboard app's settings, read once from the environment the ``evalkit leaderboard`` command sets.

Streamlit runs ``app.py`` as a script in its own process, so the command passes its flags as
``EVALKIT_LEADERBOARD_*`` variables (tests set them the same way before ``AppTest.from_file``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STORE = "EVALKIT_LEADERBOARD_STORE"
ARENA = "EVALKIT_LEADERBOARD_ARENA"
TOKENS = "EVALKIT_LEADERBOARD_TOKENS"
RATE = "EVALKIT_LEADERBOARD_VOTES_PER_MINUTE"

#: Votes one annotator may cast per minute before the arena asks them to slow down.
DEFAULT_VOTES_PER_MINUTE = 20


@dataclass(frozen=True)
class AppSettings:
    """What the app serves: the results store, whether the arena takes votes, who may vote."""

    #: A SQLite file, or a ``postgresql://`` URL (text: ``Path`` would fold its ``//``).
    store: str | Path
    arena: bool = False
    annotator_tokens: Path | None = None
    votes_per_minute: int = DEFAULT_VOTES_PER_MINUTE

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """Parse the ``EVALKIT_LEADERBOARD_*`` variables; the store defaults to ``$EVALKIT_STORE``, else
        ``$EVALKIT_HOME/evalkit.db``."""
        from evalkit.config import Environment
        from evalkit.store import is_url

        environ = os.environ if environ is None else environ
        store = environ.get(STORE, "").strip()
        tokens = environ.get(TOKENS, "").strip()
        rate = environ.get(RATE, "").strip()
        return cls(
            store=(store if is_url(store) else Path(store).expanduser()) if store
            else Environment.from_environ(environ).store_path,
            arena=environ.get(ARENA, "0") not in ("0", "", "false"),
            annotator_tokens=Path(tokens).expanduser() if tokens else None,
            votes_per_minute=int(rate) if rate.isdigit() and int(rate) > 0 else DEFAULT_VOTES_PER_MINUTE,
        )

    def to_environ(self) -> dict[str, str]:
        """The variables that make :meth:`from_environ` return these settings (for the Streamlit process)."""
        return {STORE: str(self.store), ARENA: "1" if self.arena else "0",
                TOKENS: str(self.annotator_tokens) if self.annotator_tokens else "",
                RATE: str(self.votes_per_minute)}
