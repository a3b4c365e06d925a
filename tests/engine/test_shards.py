"""The shard partition: whole units, every request in exactly one shard, deterministic, balanced."""

from __future__ import annotations

import random

import pytest

from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, request_hash
from evalkit.engine.shards import (
    MIN_SHARED_CHARS,
    ShardSpec,
    Unit,
    parse_shard,
    partition,
    request_units,
    shard_cost,
    shard_hashes,
)


def words(text: str) -> int:
    """An independent token counter: whitespace-separated words."""
    return max(len(text.split()), 1)


def mmlu_like(subjects: dict[str, int], seed: int = 0) -> list[Loglikelihood]:
    """Per subject a long shared few-shot block, then questions of varying length with 4 choices each."""
    rng = random.Random(seed)
    out = []
    for subject, n in subjects.items():
        block = f"The following are questions about {subject}. " + " ".join(f"shot{i}" for i in range(60)) + "\n"
        for q in range(n):
            context = block + f"Question {q}: " + " ".join("w" for _ in range(rng.randint(5, 60))) + "\nAnswer:"
            out += [Loglikelihood(context, f" {c}") for c in "ABCD"]
    return out


def test_parse_shard_counts_from_zero() -> None:
    assert parse_shard("0/2") == ShardSpec(0, 2)
    assert parse_shard(" 3 / 4 ") == ShardSpec(3, 4)
    assert str(ShardSpec(1, 3)) == "1/3"
    for bad, why in (("2/2", "from 0 to N-1 = 1"), ("3/2", "from 0 to N-1 = 1"), ("0/0", "at least one"),
                     ("x/y", "expected I/N"), ("1", "expected I/N"), ("-1/2", "expected I/N")):
        with pytest.raises(ValueError, match=why):
            parse_shard(bad)


def test_every_request_is_in_exactly_one_shard_and_units_stay_whole() -> None:
    requests = mmlu_like({"algebra": 30, "anatomy": 45, "astronomy": 50, "ethics": 20})
    requests += [LoglikelihoodRolling(f"text {i} " * i) for i in range(1, 9)]
    requests += [GenerateUntil(f"Prompt {i}:", ("\n",), 32) for i in range(10)] * 2  # duplicates collapse
    distinct = {request_hash(r) for r in requests}
    for n in (1, 2, 3, 5):
        shards = [shard_hashes(requests, words, ShardSpec(i, n)) for i in range(n)]
        flat = [h for s in shards for h in s]
        assert len(flat) == len(set(flat)) == len(distinct)
        assert set(flat) == distinct
        # A question's choices never straddle shards.
        owner = {h: i for i, s in enumerate(shards) for h in s}
        by_context: dict[str, set[int]] = {}
        for r in requests:
            if isinstance(r, Loglikelihood):
                by_context.setdefault(r.context, set()).add(owner[request_hash(r)])
        assert all(len(s) == 1 for s in by_context.values())


def test_partition_is_deterministic_whatever_the_process() -> None:
    requests = mmlu_like({"a": 40, "b": 25, "c": 33}, seed=3)
    requests += [GenerateUntil(f"Prompt {i}:", ("\n",), 16) for i in range(7)]
    first = [shard_hashes(requests, words, ShardSpec(i, 3)) for i in range(3)]
    assert first == [shard_hashes(list(requests), words, ShardSpec(i, 3)) for i in range(3)]
    # Not even the order the requests were built in changes it.
    shuffled = list(requests)
    random.Random(1).shuffle(shuffled)
    assert first == [shard_hashes(shuffled, words, ShardSpec(i, 3)) for i in range(3)]


def test_partition_is_cost_balanced() -> None:
    rng = random.Random(7)
    units = [Unit(f"u{i:03d}", (f"u{i}",), rng.randint(1, 100)) for i in range(200)]
    total = sum(u.cost for u in units)
    for n in (2, 3, 4, 7):
        shards = partition(units, n)
        assert [u for s in shards for u in s] == units  # contiguous runs, all units, in order
        for s in shards:  # each within one unit of its fair share (the cut goes to the nearer boundary)
            assert abs(shard_cost(s) - total / n) <= 100, [shard_cost(s) for s in shards]
    assert sum(map(len, partition(units[:2], 3))) == 2  # fewer units than shards: some shard is empty


def test_prefix_groups_stay_whole_except_at_a_cut() -> None:
    requests = mmlu_like({"small": 6, "large": 80, "medium": 30})
    units = request_units(requests, words)
    # A group per subject, its shared block counted once, on top of each question's own tokens.
    groups = {u.group for u in units}
    assert len(groups) == 3 and -1 not in groups
    block = words("The following are questions about large. " + " ".join(f"shot{i}" for i in range(60)))
    assert all(u.prefix >= block for u in units)
    shards = partition(units, 2)
    contexts = {request_hash(r): r.context for r in requests}
    subjects_of = [{contexts[u.hashes[0]].split(". ")[0].split()[-1] for u in s} for s in shards]
    # Sorted by context "large" comes first and holds over half the work: the one cut splits it, nothing else.
    assert subjects_of == [{"large"}, {"large", "medium", "small"}], subjects_of
    loads = [shard_cost(s) for s in shards]
    assert max(loads) / min(loads) < 1.05, loads
    # With one shard per subject's worth of work nothing is split needlessly: 3 shards, at most 2 cuts.
    split = [g for g in groups if sum(any(u.group == g for u in s) for s in partition(units, 3)) > 1]
    assert len(split) <= 2


def test_contexts_without_a_long_common_prefix_are_units_of_their_own() -> None:
    requests = [Loglikelihood(f"{i} short context", c) for i in range(5) for c in (" yes", " no")]
    units = request_units(requests, words)
    assert sorted(len(u.hashes) for u in units) == [2] * 5
    assert all(u.group == -1 and u.prefix == 0 for u in units)
    assert all(u.cost == words(u.key) + 2 for u in units)  # context words + one word per choice
    # The same contexts behind a long common block form one group.
    block = "x" * MIN_SHARED_CHARS
    grouped = request_units([Loglikelihood(block + f" {i} short context", " yes") for i in range(5)], words)
    assert len({u.group for u in grouped}) == 1 and grouped[0].group >= 0


def test_each_local_worker_gets_its_own_gpu_where_there_are_several() -> None:
    from evalkit.launch.local import worker_devices

    assert worker_devices(2, 0, None) == [None, None]  # CPU: nothing to choose
    assert worker_devices(3, 1, "5") == [None, None, None]  # one GPU: all share what the parent sees
    assert worker_devices(4, 4, None) == ["0", "1", "2", "3"]
    assert worker_devices(3, 2, None) == ["0", "1", "0"]  # more workers than GPUs: round robin
    assert worker_devices(2, 2, "3, 7") == ["3", "7"]  # named as the parent names them
    assert worker_devices(2, 2, "GPU-a1,GPU-b2,GPU-c3") == ["GPU-a1", "GPU-b2"]
