"""lm-eval's response filters for task files: the steps of a ``filter_list`` pipeline.

A pipeline (one ``filter_list`` entry: a name and ordered steps) maps each request's responses
(``resps``: one list per request, ``repeats`` long) to what ``process_results`` scores for it. The
filters and their parameters are lm-eval 0.4.13's (``lm_eval/filters/*.py``) with the same outputs;
unlike lm-eval, a step's parameters are checked when the pipeline is built (``check_filter_args``),
so a typo or a broken regex fails before any model call instead of mid-run or never.

``custom`` (lm-eval's ``CustomFilter``) is registered so that its name resolves, but it runs code:
it takes ``filter_fn``, a callable ``(resps, docs) -> filtered resps``, which only an explicit code
path can supply (the task loader refuses it in task files unless the user allowed code to run).
"""

from __future__ import annotations

import difflib
import re
import sys
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from evalkit.registry import Registry, UnknownName

__all__ = ["DEFAULT_PIPELINE", "FILTERS", "Filter", "FilterDef", "FilterPipeline", "check_filter_args"]

# lm-eval's regex filter defaults: GSM8K's "#### <number>" answer line, and what a miss becomes.
DEFAULT_REGEX = r"#### (\-?[0-9\.\,]+)"
DEFAULT_FALLBACK = "[invalid]"


class Filter(ABC):
    """One pipeline step: ``apply`` maps every request's response list, in order, to its filtered value."""

    @abstractmethod
    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        """Filtered values, one per request (``resps[i]`` came from ``docs[i]``)."""


@dataclass(frozen=True)
class FilterDef:
    """A filter a task file may name: the keyword arguments its steps accept and how to build it."""

    name: str
    params: frozenset[str]
    factory: Callable[..., Filter]
    required: frozenset[str] = frozenset()


FILTERS: Registry[FilterDef] = Registry("filter")


def _register(name: str, params: Sequence[str] = (), required: Sequence[str] = ()
              ) -> Callable[[Callable[..., Filter]], Callable[..., Filter]]:
    def decorate(factory: Callable[..., Filter]) -> Callable[..., Filter]:
        FILTERS.register(name)(FilterDef(name, frozenset(params), factory, frozenset(required)))
        return factory

    return decorate


def _first_match(regex: re.Pattern[str], text: Any, group_select: int) -> str | None:
    """``findall(text)[group_select]``, the first non-empty group of a tuple, stripped; None without a match,
    "" for a match whose groups are all empty. A non-string response is searched as ""."""
    found = regex.findall(text if isinstance(text, str) else "")
    if not found:
        return None
    match = found[group_select]
    if isinstance(match, tuple):
        match = next((group for group in match if group), "")
    return match.strip()


@_register("regex", ("regex_pattern", "group_select", "fallback"))
class RegexFilter(Filter):
    """Each response → its ``group_select``-th regex match (negative counts from the end), else ``fallback``.

    When the pattern has several groups, a match is its first non-empty group (``fallback`` if all are
    empty); the result is stripped.
    """

    def __init__(self, regex_pattern: str = DEFAULT_REGEX, group_select: int = 0,
                 fallback: Any = DEFAULT_FALLBACK) -> None:
        self.regex = re.compile(regex_pattern)
        self.group_select = group_select
        self.fallback = fallback

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return [[self._extract(resp) for resp in inst] for inst in resps]

    def _extract(self, resp: Any) -> Any:
        found = self.regex.findall(resp if isinstance(resp, str) else "")
        if not found:
            return self.fallback
        match = found[self.group_select]
        if isinstance(match, tuple):
            match = next((group for group in match if group), None)
            if match is None:
                return self.fallback.strip()
        return match.strip()


@cache
def _punctuation_table() -> dict[int, None]:
    """Every Unicode code point of a punctuation category (P*), to delete with str.translate."""
    return dict.fromkeys(i for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))


@_register("multi_choice_regex", ("regex_pattern", "group_select", "fallback", "ignore_case", "ignore_punctuation",
                                  "regexes_to_ignore"))
class MultiChoiceRegexFilter(Filter):
    """A letter answer ``(A)``, ``(B)``... for documents with a ``choices`` column.

    Tries, in order: ``regex_pattern`` (its match as is); the text of a choice in the response (longest
    choices first, after the optional normalisations of both sides: ``regexes_to_ignore`` deleted,
    lowercased, Unicode punctuation deleted), giving that choice's letter; ``": X"`` with X a choice
    letter; else ``fallback``.
    """

    def __init__(self, regex_pattern: str = DEFAULT_REGEX, group_select: int = 0, fallback: Any = DEFAULT_FALLBACK,
                 ignore_case: bool = False, ignore_punctuation: bool = False,
                 regexes_to_ignore: list[str] | None = None) -> None:
        self.regex = re.compile(regex_pattern)
        self.group_select = group_select
        self.fallback = fallback
        self.ignore_case = ignore_case
        self.ignore_punctuation = ignore_punctuation
        self.regexes_to_ignore = regexes_to_ignore

    def _normalise(self, text: str) -> str:
        for pattern in self.regexes_to_ignore or ():
            text = re.sub(pattern, "", text)
        if self.ignore_case:
            text = text.lower()
        if self.ignore_punctuation:
            text = text.translate(_punctuation_table())
        return text

    def _find(self, regex: re.Pattern[str], resp: Any, convert: dict[str, str]) -> str | None:
        match = _first_match(regex, resp, self.group_select)
        return convert.get(match, match) if match else match

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        if len(resps) != len(docs):
            raise ValueError(f"{len(resps)} response lists for {len(docs)} documents")
        filtered = []
        for inst, doc in zip(resps, docs):
            letters = [chr(ord("A") + i) for i in range(len(doc["choices"]))]
            by_text = {self._normalise(c.strip()): f"({letter})" for c, letter in zip(doc["choices"], letters)}
            # Longest first: alternation is leftmost-wins, so a choice that prefixes another would shadow it.
            texts = sorted((re.escape(self._normalise(c.strip())) for c in doc["choices"]), key=len, reverse=True)
            by_text_regex = re.compile("|".join(texts))
            by_letter_regex = re.compile(rf":[\s]*({'|'.join(letters)})")
            by_letter = {letter: f"({letter})" for letter in letters}
            out = []
            for resp in inst:
                match = (self._find(self.regex, resp, {})
                         or self._find(by_text_regex, self._normalise(resp), by_text)
                         or self._find(by_letter_regex, resp, by_letter))
                out.append(match or self.fallback)
            filtered.append(out)
        return filtered


@_register("take_first")
class TakeFirstFilter(Filter):
    """Each request → its first response (the default pipeline's only step)."""

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return [inst[0] for inst in resps]


@_register("take_first_k", ("k",), required=("k",))
class TakeFirstKFilter(Filter):
    """Each request → its first ``k`` responses (a list); fails unless the first request has ``k``."""

    def __init__(self, k: int) -> None:
        self.k = k

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        if resps and len(resps[0]) < self.k:
            raise ValueError(f"take_first_k needs at least {self.k} responses per request, got {len(resps[0])}: "
                             "raise the task's repeats")
        return [inst[: self.k] for inst in resps]


@_register("majority_vote")
class MajorityVoteFilter(Filter):
    """Each request → ``[its most frequent response]`` (a tie goes to the one seen first)."""

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return [[Counter(inst).most_common(1)[0][0]] for inst in resps]


class _EachResponse(Filter):
    """A filter that maps every response of every request through ``transform``."""

    def transform(self, resp: Any) -> Any:
        raise NotImplementedError

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return [[self.transform(resp) for resp in inst] for inst in resps]


@_register("remove_whitespace")
class WhitespaceFilter(_EachResponse):
    """Strip leading and trailing whitespace."""

    def transform(self, resp: Any) -> Any:
        return resp.strip()


@_register("lowercase")
class LowercaseFilter(_EachResponse):
    """Lowercase."""

    def transform(self, resp: Any) -> Any:
        return resp.lower()


@_register("uppercase")
class UppercaseFilter(_EachResponse):
    """Uppercase."""

    def transform(self, resp: Any) -> Any:
        return resp.upper()


@_register("map", ("mapping_dict", "default_value"))
class MapFilter(_EachResponse):
    """Replace a response by ``mapping_dict[response]``, or ``default_value`` (None unless given) if absent."""

    def __init__(self, mapping_dict: dict[Any, Any] | None = None, default_value: Any = None) -> None:
        self.mapping = {} if mapping_dict is None else mapping_dict
        self.default = default_value

    def transform(self, resp: Any) -> Any:
        return self.mapping.get(resp, self.default)


@_register("custom", ("filter_fn",), required=("filter_fn",))
class CustomFilter(Filter):
    """``filter_fn(resps, docs)``: user code, reachable only through an explicit code path (see the module doc)."""

    def __init__(self, filter_fn: Callable[[list[Any], list[dict[str, Any]]], Any]) -> None:
        self.filter_fn = filter_fn

    def apply(self, resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return list(self.filter_fn(resps, docs))


def _regex_error(key: str, pattern: Any) -> str | None:
    if not isinstance(pattern, str):
        return f"{key} must be a regular expression string, got {pattern!r}"
    try:
        re.compile(pattern)
    except re.error as error:
        return f"{key} {pattern!r} is not a valid regular expression: {error}"
    return None


def _value_error(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be parameter ``key`` (same name, same meaning in every filter), or None."""
    if key == "regex_pattern":
        return _regex_error(key, value)
    if key == "regexes_to_ignore":
        if not isinstance(value, list):
            return f"regexes_to_ignore must be a list of regular expressions, got {value!r}"
        return next((err for item in value if (err := _regex_error("regexes_to_ignore item", item))), None)
    if key in ("group_select", "k") and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{key} must be an integer, got {value!r}"
    if key == "k" and value < 1:
        return f"k must be at least 1, got {value}"
    if key in ("ignore_case", "ignore_punctuation") and not isinstance(value, bool):
        return f"{key} must be true or false, got {value!r}"
    if key == "mapping_dict" and not isinstance(value, dict):
        return f"mapping_dict must be a mapping, got {value!r}"
    if key == "filter_fn" and not callable(value):
        return f"filter_fn must be a callable, got {value!r}"
    return None


def check_filter_args(name: str, kwargs: dict[str, Any]) -> str | None:
    """Why the step ``{function: name, **kwargs}`` cannot be built, or None.

    Reports an unknown filter or parameter (with the closest known name), a missing required
    parameter, a regular expression that does not compile, and a value of the wrong type.
    """
    try:
        definition = FILTERS.get(name)
    except UnknownName as error:
        close = difflib.get_close_matches(name, FILTERS.names(), n=1)
        return f"{error}" + (f"; did you mean {close[0]!r}?" if close else "")
    for key, value in kwargs.items():
        if key not in definition.params:
            close = difflib.get_close_matches(key, sorted(definition.params), n=1)
            takes = ", ".join(sorted(definition.params)) or "no parameters"
            return (f"filter {name!r} has no parameter {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" (it takes: {takes})")
        if (message := _value_error(key, value)) is not None:
            return f"filter {name!r}: {message}"
    missing = sorted(definition.required - kwargs.keys())
    return f"filter {name!r} needs {', '.join(missing)}" if missing else None


class FilterPipeline:
    """One ``filter_list`` entry: its name (the key results are reported under) and its steps in order."""

    def __init__(self, name: str, steps: Sequence[tuple[str, dict[str, Any]]]):
        self.name = name
        self.steps = tuple((function, dict(kwargs)) for function, kwargs in steps)
        self._filters: list[Filter] = []
        for function, kwargs in self.steps:
            if (message := check_filter_args(function, kwargs)) is not None:
                raise ValueError(f"filter_list {name!r}: {message}")
            self._filters.append(FILTERS.get(function).factory(**kwargs))

    def apply(self, resps: list[list[Any]], docs: list[dict[str, Any]]) -> list[Any]:
        """The filtered value of each request: ``resps[i]`` (its responses) came from ``docs[i]``.

        For ``generate_until`` there is one request per document; for ``multiple_choice`` one per choice
        (each with its single ``(loglikelihood, is_greedy)``), and the filters see each request alone.
        """
        values: list[Any] = list(resps)
        for step in self._filters:
            values = step.apply(values, docs)
        return values

    def __repr__(self) -> str:
        return f"FilterPipeline({self.name!r}, {list(self.steps)!r})"


# lm-eval's pipeline for a task without filter_list.
DEFAULT_PIPELINE = FilterPipeline("none", [("take_first", {})])
