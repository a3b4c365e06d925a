"""evalkit.tasks.samplers against lm-eval 0.4.13's own samplers (``api/samplers.py``), called directly."""

from __future__ import annotations

import pytest

from evalkit.errors import UserError
from evalkit.tasks.samplers import FirstNSampler, RandomSampler


@pytest.mark.parametrize("exclude", [False, True])
def test_random_sampler_replays_lm_evals_default_sampler(exclude: bool) -> None:
    from lm_eval.api.samplers import ContextSampler

    pool = [{"i": i} for i in range(40)]
    reference = ContextSampler(pool, rnd=None).set_rnd(1234)
    expected = [reference.sample(n=3, eval_doc=pool[i] if exclude else None) for i in range(25)]
    ours = RandomSampler(pool, 3, seed=1234, exclude_eval_doc=exclude)
    assert [ours.shots(i, pool[i]) for i in range(25)] == expected
    # Asked out of order, a fresh sampler still gives every document its own shots.
    fresh = RandomSampler(pool, 3, seed=1234, exclude_eval_doc=exclude)
    assert fresh.shots(7, pool[7]) == expected[7] and fresh.shots(2, pool[2]) == expected[2]


def test_random_sampler_refuses_more_shots_than_the_pool_holds() -> None:
    with pytest.raises(UserError, match="only 3 examples"):
        RandomSampler([{"i": i} for i in range(3)], 3, seed=1234, exclude_eval_doc=True)  # draws k + 1


def test_first_n_sampler_is_lm_evals() -> None:
    from lm_eval.api.samplers import FirstNSampler as LmEvalFirstN

    pool = [{"i": i % 6} for i in range(8)]  # with duplicates, which lm-eval drops too
    for doc in (pool[0], pool[3], {"i": 99}):
        assert FirstNSampler(pool, 5, exclude_eval_doc=True).shots(0, doc) == LmEvalFirstN(pool).sample(5, doc)
    assert FirstNSampler(pool, 5).shots(0, pool[0]) == LmEvalFirstN(pool).sample(5)
    with pytest.raises(UserError, match="only 6"):
        FirstNSampler(pool, 7, exclude_eval_doc=True).shots(0, pool[0])
