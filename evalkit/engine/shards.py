"""Which requests a shard answers: a deterministic, cost-balanced partition of whole request units.

Every worker builds the same requests, so every worker can compute the same partition on its own,
with no coordinator. The partition is a pure function of the distinct requests, the token counter
and the number of shards (not of the order the requests came in):

1. Requests are deduplicated by hash (:func:`~evalkit.engine.requests.request_hash`), as
   :func:`~evalkit.engine.dispatch.run_requests` does, so a request belongs to exactly one unit.
2. A *unit* is what one worker answers whole: a question (the log-likelihood requests with one
   context: all its choices), the samples of one generation prompt, one rolling log-likelihood
   or reward-model request. A unit costs the tokens it prefills plus :data:`GENERATE_WEIGHT` per
   token it may generate.
3. Questions are sorted by context, so those sharing a long common prefix (MMLU: one subject's
   few-shot block) are neighbours and form a *prefix group*, whose prefix
   :mod:`evalkit.engine.prefix` computes once per shard. The prefix's tokens count once, on the
   group's first question.
4. The units, in that order, are cut into N contiguous runs of near-equal cost, each cut at the
   unit boundary nearest to its share. Prefix groups stay whole except where a cut falls inside
   one: at most N-1 groups are split, and each part computes the prefix once, so prefix reuse
   survives while one large group (a big subject) cannot leave a worker idle. Every shard is
   within one unit's cost of its fair share (plus at most one repeated prefix).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, Request, Score, request_hash

#: A generated token costs this many prefilled tokens: decoding runs one forward pass per token,
#: prefill many tokens per pass. A rough CPU/GPU middle; it only weighs generation against scoring.
GENERATE_WEIGHT = 4

#: Neighbouring contexts sharing at least this many leading characters form one prefix group. It is
#: about :data:`evalkit.engine.prefix.MIN_SHARED` tokens; grouping here only keeps work together,
#: the engine still decides on token ids what it shares.
MIN_SHARED_CHARS = 128

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count``; indices start at 0 (as Slurm's ``--array=0-(N-1)``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """``"I/N"`` with ``0 <= I < N``; ``ValueError`` with a one-line reason otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"expected I/N (shard I of N, I counted from 0), got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"expected at least one shard, got {text!r}")
    if index >= count:
        raise ValueError(f"shard index counts from 0 to N-1 = {count - 1}, got {text!r}")
    return ShardSpec(index, count)


@dataclass(frozen=True)
class Unit:
    """Requests (by hash) that one worker answers together, and what they cost."""

    key: str  # what orders the unit among its kind: its context, else its hash
    hashes: tuple[str, ...]
    cost: int  # without the prefix its group shares
    group: int = -1  # its prefix group (-1: none)
    prefix: int = 0  # the tokens of that shared prefix, paid once per shard holding part of the group


_KIND_ORDER = {"loglikelihood": 0, "loglikelihood_rolling": 1, "generate_until": 2, "score": 3}


def request_units(requests: Sequence[Request], count_tokens: TokenCounter) -> list[Unit]:
    """The distinct requests of ``requests`` as units, in partition order (module doc, steps 1-3)."""
    unique: dict[str, Request] = {}
    for r in requests:
        unique.setdefault(request_hash(r), r)
    questions: dict[str, list[str]] = {}  # log-likelihood context -> its choices' hashes
    prompts: dict[str, list[str]] = {}  # generation context -> its samples' hashes
    others: list[Unit] = []
    for h, r in unique.items():
        if isinstance(r, Loglikelihood):
            questions.setdefault(r.context, []).append(h)
        elif isinstance(r, GenerateUntil):
            prompts.setdefault(r.context, []).append(h)
        elif isinstance(r, LoglikelihoodRolling):
            others.append(Unit(h, (h,), count_tokens(r.text)))
        elif isinstance(r, Score):
            others.append(Unit(h, (h,), count_tokens(str(r.arguments))))
    for context, hashes in prompts.items():
        per_sample = count_tokens(context) + GENERATE_WEIGHT * max(_gen_toks(unique[h]) for h in hashes)
        others.append(Unit(context, tuple(sorted(hashes)), per_sample * len(hashes)))
    units: list[Unit] = []
    for group, (shared, contexts) in enumerate(_prefix_groups(sorted(questions))):
        prefix = count_tokens(contexts[0][:shared]) if shared else 0
        for c in contexts:
            members = tuple(sorted(questions[c]))
            choices = sum(count_tokens(_continuation(unique[h])) for h in members)
            units.append(Unit(c, members, max(count_tokens(c) - prefix, 1) + choices, group if shared else -1,
                              prefix))
    kinds = {u.key: _KIND_ORDER[unique[u.hashes[0]].kind] for u in others}
    return units + sorted(others, key=lambda u: (kinds[u.key], u.key))


def shard_cost(units: Sequence[Unit]) -> int:
    """What a run of units costs one worker: each unit, plus each prefix group's prefix once."""
    return sum(u.cost for u in units) + sum(u.prefix for u in {u.group: u for u in units if u.group >= 0}.values())


def partition(units: Sequence[Unit], n_shards: int) -> list[list[Unit]]:
    """``units`` (in :func:`request_units` order) cut into ``n_shards`` contiguous runs of near-equal
    cost (module doc, step 4); a shard may be empty when there are fewer units than shards."""
    costs = [u.cost + (u.prefix if i == 0 or units[i - 1].group != u.group else 0) for i, u in enumerate(units)]
    cumulative = [0]
    for c in costs:
        cumulative.append(cumulative[-1] + c)
    total = cumulative[-1]
    cuts = [0]
    for k in range(1, n_shards):
        target = total * k / n_shards
        j = bisect.bisect_left(cumulative, target, lo=cuts[-1])
        if j > cuts[-1] and (j == len(cumulative) or target - cumulative[j - 1] <= cumulative[j] - target):
            j -= 1  # the boundary below is nearer
        cuts.append(min(j, len(units)))
    cuts.append(len(units))
    return [list(units[a:b]) for a, b in itertools.pairwise(cuts)]


def shard_hashes(requests: Sequence[Request], count_tokens: TokenCounter, spec: ShardSpec) -> list[str]:
    """The hashes of the distinct requests shard ``spec`` answers (each request in exactly one shard)."""
    mine = partition(request_units(requests, count_tokens), spec.count)[spec.index]
    return [h for unit in mine for h in unit.hashes]


def _prefix_groups(contexts: list[str]) -> list[tuple[int, list[str]]]:
    """Sorted contexts in runs of neighbours sharing >= MIN_SHARED_CHARS leading characters,
    with the characters all members share (0 for a context alone)."""
    groups: list[tuple[int, list[str]]] = []
    for c in contexts:
        if groups:
            shared, members = groups[-1]
            common = min(shared if len(members) > 1 else len(members[0]), _common_prefix(members[-1], c))
            if common >= MIN_SHARED_CHARS:
                groups[-1] = (common, [*members, c])
                continue
        groups.append((0, [c]))
    return groups


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _continuation(r: Request) -> str:
    assert isinstance(r, Loglikelihood)
    return r.continuation


def _gen_toks(r: Request) -> int:
    assert isinstance(r, GenerateUntil)
    return r.max_gen_toks
