"""Preference pairs in the formats DPO takes, and RewardBench's statistics over their rewards.

Rows (read once, at load, into one form): ``chosen`` and ``rejected``, with ``prompt`` (explicit
prompt) or without (implicit prompt: the turns chosen and rejected share are the prompt, as TRL's
``extract_prompt`` takes them; for text, the whole text is the answer). Each is text or a list of
``{role, content}`` messages; an optional ``system`` text becomes the system turn. As evalkit's
training reads the same files (the ``preference`` format of :mod:`evalkit.harness.data`), when any row
is conversational all are made so: a text prompt becomes a user turn, a text answer an assistant turn,
and chosen/rejected conversations that repeat the prompt's turns keep only what follows them.

Statistics (RewardBench's): a pair is **correct** when the chosen answer's reward is strictly higher
(a tie is not); **accuracy** is the share of correct pairs, **margin** the mean of r(chosen) − r(rejected);
each with the standard error of its mean, overall and per subset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.engine.requests import Message
from evalkit.errors import UserError
from evalkit.metrics.stats import mean, mean_stderr
from evalkit.scores import Aggregate, ItemScore, finite_or_none

Turns = str | tuple[Message, ...]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Pair:
    """One preference pair, read (both answers share the prompt's form: text or messages)."""

    prompt: Turns
    chosen: Turns
    rejected: Turns
    subset: str | None = None


@dataclass(frozen=True)
class PairColumns:
    prompt: str = "prompt"
    chosen: str = "chosen"
    rejected: str = "rejected"
    system: str = "system"
    subset: str = "subset"


def read_pairs(rows: Sequence[dict[str, Any]], columns: PairColumns, source: str) -> list[Pair]:
    """Every row as a :class:`Pair` (module doc); a bad row is one :class:`UserError`,
    ``<source> row <n>: column '<name>': <what is wrong>``."""
    conversational = any(_is_messages(row.get(c)) for row in rows for c in (columns.prompt, columns.chosen,
                                                                             columns.rejected)) \
        or any(row.get(columns.system) is not None for row in rows)
    return [_pair(row, n, columns, source, conversational) for n, row in enumerate(rows, start=1)]


def pair_doc(pair: Pair) -> dict[str, Any]:
    """A pair as the document the runner records (messages as ``{role, content}`` dicts)."""
    return {"prompt": jsonable(pair.prompt), "chosen": jsonable(pair.chosen), "rejected": jsonable(pair.rejected),
            "subset": pair.subset}


def doc_pair(doc: dict[str, Any]) -> Pair:
    """The :class:`Pair` a document of :func:`pair_doc` holds."""
    return Pair(as_turns(doc["prompt"]), as_turns(doc["chosen"]), as_turns(doc["rejected"]), doc.get("subset"))


def pair_metrics(prefix: str, chosen: float, rejected: float) -> dict[str, float]:
    """``{prefix}accuracy`` (1.0 when chosen is strictly higher) and ``{prefix}margin`` of one pair."""
    return {f"{prefix}accuracy": float(chosen > rejected), f"{prefix}margin": chosen - rejected}


def aggregate_pairs(scores: Sequence[ItemScore], metrics: Iterable[str]) -> dict[str, Aggregate]:
    """Mean ± standard error of each of ``metrics`` over the pairs that have it, overall and, where the
    pairs have subsets, per subset as ``<metric>/<subset>``."""
    out: dict[str, Aggregate] = {}
    subsets = sorted({str(s.details["subset"]) for s in scores if s.details.get("subset") is not None})
    for metric in metrics:
        groups: list[tuple[str, list[ItemScore]]] = [(metric, list(scores))]
        groups += [(f"{metric}/{name}", [s for s in scores if s.details.get("subset") == name]) for name in subsets]
        for label, members in groups:
            values = [float(s.metrics[metric]) for s in members if metric in s.metrics]
            if values:
                out[label] = Aggregate(mean(values), finite_or_none(mean_stderr(values)), len(values))
    return out


# -- reading ---------------------------------------------------------------------------------------------

def _pair(row: dict[str, Any], n: int, columns: PairColumns, source: str, conversational: bool) -> Pair:
    where = f"{source} row {n}"
    for col in (columns.chosen, columns.rejected):
        if col not in row:
            raise UserError(f"{where}: no column {col!r} (the row has: {', '.join(row) or 'nothing'})")
    chosen = read_turns(row[columns.chosen], where, columns.chosen, conversational, "assistant")
    rejected = read_turns(row[columns.rejected], where, columns.rejected, conversational, "assistant")
    subset = row.get(columns.subset)
    subset = None if subset is None else str(subset)
    system = row.get(columns.system)
    if system is not None and not isinstance(system, str):
        raise UserError(f"{where}: column {columns.system!r}: expected text, got {type(system).__name__}")
    if row.get(columns.prompt) is None:
        if not conversational:
            return Pair("", chosen, rejected, subset)  # TRL scores the whole text
        assert isinstance(chosen, tuple) and isinstance(rejected, tuple)
        shared = _shared_turns(chosen, rejected)
        prompt: Turns = chosen[:shared]
        chosen, rejected = chosen[shared:], rejected[shared:]
    else:
        prompt = read_turns(row[columns.prompt], where, columns.prompt, conversational, "user")
        if isinstance(prompt, tuple):
            assert isinstance(chosen, tuple) and isinstance(rejected, tuple)
            chosen, rejected = _after(chosen, prompt), _after(rejected, prompt)
    if isinstance(prompt, tuple):
        assert isinstance(chosen, tuple) and isinstance(rejected, tuple)
        if system is not None:
            if prompt and prompt[0][0] == "system":
                raise UserError(f"{where}: column {columns.system!r}: given, and the prompt already opens with a "
                                "system turn; keep one")
            prompt = (("system", system), *prompt)
        for col, answer in ((columns.chosen, chosen), (columns.rejected, rejected)):
            if not answer:
                raise UserError(f"{where}: column {col!r}: no turn after the prompt's")
    return Pair(prompt, chosen, rejected, subset)


def read_turns(value: Any, where: str, col: str, conversational: bool, role: str) -> Turns:
    """``value`` as text, or as ``(role, content)`` turns when ``conversational`` (text becomes one ``role``
    turn); a bad value is one :class:`UserError` at ``where``."""
    if isinstance(value, str):
        return ((role, value),) if conversational else value
    if not _is_messages(value):
        raise UserError(f"{where}: column {col!r}: expected text or a list of {{role, content}} messages, "
                        f"got {_short(value)}")
    turns = []
    for i, message in enumerate(value, start=1):
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(
                message.get("content"), str):
            raise UserError(f"{where}: column {col!r}: message {i} is not {{role: {'|'.join(ROLES)}, content: text}}"
                            f" ({_short(message)})")
        turns.append((str(message["role"]), str(message["content"])))
    return tuple(turns)


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and "role" in value[0]


def _shared_turns(a: tuple[Message, ...], b: tuple[Message, ...]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _after(answer: tuple[Message, ...], prompt: tuple[Message, ...]) -> tuple[Message, ...]:
    """ultrafeedback's layout repeats the prompt's turns at the head of each answer: what follows them."""
    if len(answer) > len(prompt) and answer[: len(prompt)] == prompt:
        return answer[len(prompt):]
    return answer


def jsonable(turns: Turns) -> Any:
    return turns if isinstance(turns, str) else [{"role": r, "content": c} for r, c in turns]


def as_turns(value: Any) -> Turns:
    return value if isinstance(value, str) else tuple((m["role"], m["content"]) for m in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
