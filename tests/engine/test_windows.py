"""Token bookkeeping equals lm-evaluation-harness's own functions (lm-eval is a test dependency)."""

from __future__ import annotations

import random

import pytest
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from evalkit.engine.windows import rolling_windows, split_context_continuation


@pytest.mark.parametrize("length", [0, 1, 5, 7, 8, 9, 16, 17, 40, 123])
@pytest.mark.parametrize("max_len", [1, 4, 8])
def test_rolling_windows_match_lm_eval(length: int, max_len: int) -> None:
    tokens = [random.Random(length).randrange(1000) for _ in range(length)]
    ours = list(rolling_windows(tokens, prefix_token=-1, max_seq_len=max_len))
    theirs = [make_disjoint_window(w) for w in get_rolling_token_windows(tokens, -1, max_len, 1)]
    assert ours == theirs
    assert [t for _, pred in ours for t in pred] == tokens  # every token predicted exactly once


@pytest.mark.parametrize(("context", "continuation", "expected"), [
    ("Answer: ", "B", ("Answer:", " B")),
    ("Answer:", " B", ("Answer:", " B")),
    ("a  \n", "x", ("a", "  \nx")),
    ("", "x", ("", "x")),
])
def test_trailing_whitespace_moves_to_continuation(context: str, continuation: str, expected: tuple) -> None:
    assert split_context_continuation(context, continuation) == expected
