"""Reading a verdict out of a judge's text: ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie), or a rating ``[[7]]``.

The rule, in full (the tests in ``tests/judge/test_verdicts.py`` are its table of cases):

1. A *token* is two or more ``[``, optional spaces, the value, optional spaces, two or more ``]``.
   Values: ``A``, ``B``, ``C`` in either case (pairwise); a number from 1 to 10, decimals allowed
   (single-answer). Extra brackets (``[[[A]]]``) are tolerated; a single ``[A]`` is not a token
   (it is ordinary text: list labels, citations).
2. A token is *quoted* when a quote mark or backtick touches it on either side (``"[[A]]"``,
   ```[[B]]```), or when it is followed by the word ``if`` (an echo of the instructions,
   "``[[A]] if assistant A is better``"). A quoted token is part of the explanation and does not count —
   unless nothing but spaces, quote marks, ``*``, ``.`` or ``!`` follows it: a verdict at the very end of
   the output counts however it is decorated.
3. The verdict is the **last** token that counts. A pairwise token outside A/B/C or a rating outside
   1–10 is not a token at all, so it neither counts nor hides an earlier one.
4. No token counts → ``None`` (the caller asks once more for the verdict alone, then marks it unscored).
"""

from __future__ import annotations

import re

from evalkit.judge.interfaces import PairVerdict

_PAIR_TOKEN = re.compile(r"\[{2,}\s*([ABCabc])\s*\]{2,}")
_RATING_TOKEN = re.compile(r"\[{2,}\s*(\d{1,2}(?:\.\d+)?)\s*\]{2,}")
_QUOTES = "\"'`“”‘’«»"
_TRAILING_DECORATION = set(_QUOTES + "*.! \t\r\n")
_INSTRUCTION_ECHO = re.compile(r"\s+if\b", re.IGNORECASE)


def _counts(text: str, match: re.Match[str]) -> bool:
    """Whether the token ``match`` is a verdict under rules 2 and 3 of the module docstring."""
    start, end = match.span()
    if all(ch in _TRAILING_DECORATION for ch in text[end:]):
        return True  # the end of the output: the verdict, however decorated
    # Slices, not indexing: at the start of the text ``before`` is "" (and "" is in every string).
    before, after = text[start - 1:start], text[end:end + 1]
    if (before and before in _QUOTES) or (after and after in _QUOTES):
        return False
    return _INSTRUCTION_ECHO.match(text, end) is None


def parse_pair_verdict(text: str) -> PairVerdict | None:
    """The judge's verdict in ``text`` (A, B or tie, in the positions it was shown), or ``None``."""
    tokens = [m for m in _PAIR_TOKEN.finditer(text) if _counts(text, m)]
    if not tokens:
        return None
    return {"A": PairVerdict.A, "B": PairVerdict.B, "C": PairVerdict.TIE}[tokens[-1].group(1).upper()]


def parse_rating(text: str) -> float | None:
    """The judge's 1–10 rating in ``text``, or ``None`` when no rating counts (rules above)."""
    tokens = [m for m in _RATING_TOKEN.finditer(text) if 1 <= float(m.group(1)) <= 10 and _counts(text, m)]
    return float(tokens[-1].group(1)) if tokens else None
