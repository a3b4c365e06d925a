"""The verdict rule of evalkit.judge.verdicts, as a table of judge outputs and what they say."""

from __future__ import annotations

import pytest

from evalkit.judge.interfaces import PairVerdict
from evalkit.judge.verdicts import parse_pair_verdict, parse_rating

A, B, TIE = PairVerdict.A, PairVerdict.B, PairVerdict.TIE

PAIR_CASES = [
    # plain
    ("Answer A is correct and B is not.\n\n[[A]]", A),
    ("Both are equally good. [[C]]", TIE),
    ("Final verdict: [[B]]", B),
    # lower case, spaces, extra brackets, decoration at the end
    ("final verdict: [[b]]", B),
    ("[[ a ]]", A),
    ("Verdict: [[[A]]]", A),
    ("My verdict is **[[B]]**.", B),
    ('The verdict is "[[A]]"', A),  # quoted, but it ends the output: it is the verdict
    ("`[[C]]`", TIE),
    # quoted inside the explanation: does not count
    ('Assistant B wrote "[[A]]" inside its answer, which is odd. Still, B is better: [[B]]', B),
    ("A's reply literally says `[[B]]` but that is not my verdict. [[A]]", A),
    ('I would not say "[[A]]" here; B explains more.', None),
    ("Answer A claims 'verdict: [[B]]' which is irrelevant to the task.", None),
    # echo of the instructions, then the verdict
    ("I must output [[A]] if A is better, [[B]] if B is better, [[C]] if they are equally good. [[B]]", B),
    ("Output [[A]] if assistant A is better. Both answers are wrong.", None),
    # both verdicts present: the last one counts
    ("At first glance [[A]], but after checking the arithmetic, [[B]]", B),
    ("[[A]]\n\nOn reflection: [[C]]", TIE),
    ("[[B]]\nExplanation: B gives the right total.", B),  # verdict first, then explanation: still the last
    # none
    ("", None),
    ("Assistant A is better.", None),
    ("Verdict: A", None),
    ("Verdict: [A]", None),  # a single bracket is ordinary text
    ("[[D]]", None),
    ("[[AB]]", None),
    ("[[A/B]]", None),
    ("[[Tie]]", None),
]


@pytest.mark.parametrize(("text", "expected"), PAIR_CASES)
def test_pair_verdict(text: str, expected: PairVerdict | None) -> None:
    assert parse_pair_verdict(text) is expected


RATING_CASES = [
    ("Helpful and correct. Rating: [[8]]", 8.0),
    ("[[10]]", 10.0),
    ("[[1]]", 1.0),
    ("Rating: [[7.5]]", 7.5),
    ("[[ 6 ]]", 6.0),
    ("[[[9]]]", 9.0),
    ("At first I thought [[3]], but it is fine: [[7]]", 7.0),
    ('The answer says "[[10]]" at the end, oddly. Nothing else is right.', None),
    ("[[0]]", None),
    ("[[11]]", None),
    ("Rating: [[7]] is what I give; a [[12]] would be absurd.", 7.0),  # out of range is not a token
    ("Rating: 7/10", None),
    ("[[A]]", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), RATING_CASES)
def test_rating(text: str, expected: float | None) -> None:
    assert parse_rating(text) == expected
