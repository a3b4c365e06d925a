"""The arena's rules, without Streamlit: drawing a battle, who may vote, how often, and recording a vote.

A battle (question, the two models, which one is shown on the left) is drawn here and written to
the store the moment it is shown, so the page keeps it in its session and a rerun shows the same
battle. A vote names a *screen position*; :meth:`Battle.choice` turns it into the store's choice
(``model_a``/``model_b``/``tie``/``tie (bothbad)``), so the left/right shuffle never reaches the votes.

Annotator tokens file (``--annotator-tokens FILE``), one annotator per line, fields separated by a TAB::

    NAME<TAB>SALT<TAB>SHA256_HEX(SALT + TOKEN)

``NAME`` is what the annotator types (no tabs), ``SALT`` is 32 lowercase hex characters made for that
line, the hash is SHA-256 of the UTF-8 bytes of SALT followed directly by TOKEN, as 64 lowercase hex
characters. Lines whose first non-blank character is ``#`` and blank lines are ignored. The token
itself is never written anywhere: ``evalkit leaderboard --add-annotator NAME`` prints it once.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path

from evalkit.errors import UserError
from evalkit.leaderboard import queries
from evalkit.ratings.votes import annotator_id
from evalkit.store import Store
from evalkit.store.store import VoteLimitReached

#: The store setting that holds the per-store secret annotator names are hashed with.
SALT_SETTING = "annotator_salt"
#: The window the rate limit counts votes in.
RATE_WINDOW = timedelta(seconds=60)

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


# -- battles -------------------------------------------------------------------------------------

class Position(Enum):
    """What the annotator clicked: a screen position or one of the two kinds of tie."""

    LEFT = "left"
    RIGHT = "right"
    TIE = "tie"
    BOTH_BAD = "both bad"


@dataclass(frozen=True)
class Battle:
    """A stored battle as this session showed it: ``shown_left`` is ``"model_a"`` or ``"model_b"``."""

    id: int
    question_id: str
    model_a: str
    model_b: str
    shown_left: str
    annotator: str

    @property
    def left(self) -> str:
        """The model whose answer is on the left."""
        return self.model_a if self.shown_left == "model_a" else self.model_b

    @property
    def right(self) -> str:
        """The model whose answer is on the right."""
        return self.model_b if self.shown_left == "model_a" else self.model_a

    def choice(self, position: Position) -> str:
        """The store's vote choice for a click on ``position``."""
        if position is Position.TIE:
            return "tie"
        if position is Position.BOTH_BAD:
            return "tie (bothbad)"
        shown_left_wins = position is Position.LEFT
        other = "model_b" if self.shown_left == "model_a" else "model_a"
        return self.shown_left if shown_left_wins else other


def draw(candidates: Mapping[str, Sequence[str]], rng: random.Random) -> tuple[str, str, str, str]:
    """``(question_id, model_a, model_b, shown_left)``: a question uniformly among those with at least
    two answering models (``candidates``: question id -> models), two of its models in random order,
    and a fair coin for which one is shown on the left."""
    eligible = sorted(q for q, models in candidates.items() if len(set(models)) >= 2)
    if not eligible:
        raise ValueError("no question has answers from two models")
    question = rng.choice(eligible)
    model_a, model_b = rng.sample(sorted(set(candidates[question])), 2)
    return question, model_a, model_b, rng.choice(("model_a", "model_b"))


def start_battle(store: Store, candidates: Mapping[str, Sequence[str]], annotator: str,
                 rng: random.Random) -> Battle:
    """Draw a battle and record it as shown to ``annotator`` (a salted hash); the stored battle."""
    question, model_a, model_b, shown_left = draw(candidates, rng)
    battle_id = store.add_battle(question, model_a, model_b, shown_left=shown_left, annotator=annotator)
    return Battle(battle_id, question, model_a, model_b, shown_left, annotator)


# -- annotators ----------------------------------------------------------------------------------

def store_salt(store: Store) -> str:
    """This store's annotator salt, made (16 random bytes, hex) the first time anyone asks."""
    return store.setting(SALT_SETTING, lambda: secrets.token_hex(16))


def annotator_hash(name: str, salt: str) -> str:
    """The id stored for annotator ``name`` (surrounding blanks ignored); ``ValueError`` for a blank name."""
    name = name.strip()
    if not name:
        raise ValueError("an annotator needs a name")
    return annotator_id(name, salt)


@dataclass(frozen=True)
class TokenEntry:
    """One line of a tokens file: the annotator's salt and the SHA-256 of salt + token."""

    name: str
    salt: str
    digest: str
    line: int


def token_digest(salt: str, token: str) -> str:
    """SHA-256 hex of ``salt + token`` (the third field of a tokens-file line)."""
    return hashlib.sha256((salt + token).encode()).hexdigest()


def parse_tokens(text: str, source: str) -> dict[str, TokenEntry]:
    """The entries of a tokens file's ``text`` by name; a bad line raises ``UserError`` as
    ``source:line: message``."""
    entries: dict[str, TokenEntry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{source}:{number}"
        fields = raw.rstrip("\r\n").split("\t")
        if len(fields) != 3:
            raise UserError(f"{where}: expected NAME<TAB>SALT<TAB>SHA256 (3 tab-separated fields), got {len(fields)}")
        name, salt, digest = (f.strip() for f in fields)
        if not name:
            raise UserError(f"{where}: the name is empty")
        if not _HEX32.fullmatch(salt):
            raise UserError(f"{where}: the salt must be 32 lowercase hex characters")
        if not _HEX64.fullmatch(digest):
            raise UserError(f"{where}: the hash must be 64 lowercase hex characters (SHA-256 of salt + token)")
        if name in entries:
            raise UserError(f"{where}: {name!r} is already on line {entries[name].line}")
        entries[name] = TokenEntry(name, salt, digest, number)
    return entries


def read_tokens(path: Path) -> dict[str, TokenEntry]:
    """:func:`parse_tokens` of the file at ``path`` (a missing or unreadable file is a ``UserError``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the annotator tokens file ({error})") from None
    return parse_tokens(text, str(path))


def check_token(entries: Mapping[str, TokenEntry], name: str, token: str) -> bool:
    """Whether ``token`` is ``name``'s; compared in constant time (an unknown name costs the same)."""
    entry = entries.get(name.strip())
    salt, expected = (entry.salt, entry.digest) if entry else ("0" * 32, "0" * 64)
    matches = hmac.compare_digest(token_digest(salt, token), expected)
    return entry is not None and matches


def add_annotator(path: Path, name: str) -> str:
    """Append a fresh token line for ``name`` to the tokens file ``path`` (created when missing) and
    return the token (the only time it is seen). The existing file is validated first; a name that
    is already there, or one with a tab or a leading ``#``, is a ``UserError``."""
    name = name.strip()
    if not name or "\t" in name or "\n" in name or name.startswith("#"):
        raise UserError(f"--add-annotator: {name!r} is not a usable name (not empty, no tabs, not starting with #)")
    existing = read_tokens(path) if path.exists() else {}
    if name in existing:
        raise UserError(f"{path}:{existing[name].line}: {name!r} already has a token (remove the line to replace it)")
    token = secrets.token_urlsafe(24)
    salt = secrets.token_hex(16)
    header = "" if path.exists() else "# evalkit leaderboard annotator tokens: NAME<TAB>SALT<TAB>SHA256(SALT+TOKEN)\n"
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not previous or previous.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{header}{separator}{name}\t{salt}\t{token_digest(salt, token)}\n")
    return token


# -- votes ---------------------------------------------------------------------------------------

class VoteResult(Enum):
    """What became of a vote."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # the battle already had its vote: ignored, nothing written
    RATE_LIMITED = "rate limited"  # over votes_per_minute: not stored
    REFUSED = "refused"  # not a battle of this session / annotator


def cast_vote(store: Store, session_battle: Battle | None, battle_id: int, annotator: str, position: Position,
              votes_per_minute: int, now: datetime | None = None) -> VoteResult:
    """Record ``annotator``'s vote on ``battle_id`` for the click ``position``.

    Refused unless ``battle_id`` is this session's battle (``session_battle``) and the stored battle
    was shown to ``annotator``; a battle that already has its vote gives ``DUPLICATE`` (a double
    submit); an annotator with ``votes_per_minute`` votes in the last 60 s (counted in the votes
    table in the same transaction as the insert, so across sessions and processes) gives ``RATE_LIMITED``.
    """
    if session_battle is None or session_battle.id != battle_id or session_battle.annotator != annotator:
        return VoteResult.REFUSED
    since = ((now or datetime.now(UTC)) - RATE_WINDOW).isoformat(timespec="microseconds")
    state = queries.read(store, queries.battle_state, battle_id)
    if state is None or state["annotator"] != annotator:
        return VoteResult.REFUSED
    if state["voted"]:
        return VoteResult.DUPLICATE
    try:
        store.add_vote(battle_id, annotator, session_battle.choice(position), at_most=(votes_per_minute, since))
    except VoteLimitReached:
        return VoteResult.RATE_LIMITED
    except ValueError:
        # Another submit of the same battle won the race between the check and the insert.
        state = queries.read(store, queries.battle_state, battle_id)
        if state is not None and state["voted"]:
            return VoteResult.DUPLICATE
        raise
    return VoteResult.STORED
