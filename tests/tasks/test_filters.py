"""evalkit.tasks.filters against lm-eval 0.4.13's filter classes on the same responses."""

from __future__ import annotations

from typing import Any

import pytest
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_filter
from lm_eval.filters import build_filter_ensemble

from evalkit.tasks import filters
from evalkit.tasks.filters import DEFAULT_PIPELINE, FILTERS, FilterPipeline, check_filter_args

Steps = list[tuple[str, dict[str, Any]]]

GSM_RESPONSES = [
    ["The total is 5.\n#### 42", "#### -3,000.50 and #### 7", "no number here"],
    ["#### 12", "  #### 1.5", ""],
    [None, 17, "#### 9"],  # non-string responses are searched as ""
]
DOCS_3 = [{"choices": ["x"]}, {"choices": ["y"]}, {"choices": ["z"]}]


def lm_apply(name: str, kwargs: dict[str, Any], resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
    return list(get_filter(name)(**kwargs).apply(resps, docs))


def ours(name: str, kwargs: dict[str, Any], resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
    assert check_filter_args(name, kwargs) is None
    return FILTERS.get(name).factory(**kwargs).apply(resps, docs)


FEW_MATCHES = [["#### 1 #### 2 #### 3", "1 2 3 4", "9 8"]]  # every response has at least two matches


@pytest.mark.parametrize(("kwargs", "resps"), [
    ({}, GSM_RESPONSES),
    ({"group_select": -1}, GSM_RESPONSES),
    ({"group_select": 1, "fallback": "none"}, FEW_MATCHES),
    ({"regex_pattern": r"\d", "group_select": -2}, FEW_MATCHES),
    ({"regex_pattern": r"(\d+)|(#+)"}, GSM_RESPONSES),  # tuple matches: the first non-empty group
    ({"regex_pattern": r"(x?)(y?)", "fallback": " [empty] "}, GSM_RESPONSES),  # all groups empty: stripped fallback
])
def test_regex(kwargs: dict[str, Any], resps: list[list[Any]]) -> None:
    docs = DOCS_3[: len(resps)]
    assert ours("regex", kwargs, resps, docs) == lm_apply("regex", kwargs, resps, docs)


def test_selection_filters() -> None:
    resps = [["a", "b", "a", "c"], ["x", "y", "y", "x"], ["q", "q", "r", "r"]]
    cases: Steps = [("take_first", {}), ("take_first_k", {"k": 2}), ("take_first_k", {"k": 4}), ("majority_vote", {})]
    for name, kwargs in cases:
        assert ours(name, kwargs, resps, DOCS_3) == lm_apply(name, kwargs, resps, DOCS_3), name
    with pytest.raises(ValueError, match="raise the task's repeats"):
        ours("take_first_k", {"k": 5}, resps, DOCS_3)


def test_transformation_filters() -> None:
    resps = [["  Hello World\n", "ÉCOLE straße"], ["\tA", "b "]]
    cases: Steps = [("remove_whitespace", {}), ("lowercase", {}), ("uppercase", {}),
                    ("map", {"mapping_dict": {"\tA": 1, "b ": 2}}),
                    ("map", {"mapping_dict": {"\tA": "yes"}, "default_value": "other"})]
    for name, kwargs in cases:
        assert ours(name, kwargs, resps, DOCS_3[:2]) == lm_apply(name, kwargs, resps, DOCS_3[:2]), name


MC_DOCS = [
    {"choices": ["Guilty", "Guilty of Romance", "Not guilty"]},
    {"choices": ["Paris, France", "Rome", "  Berlin  "]},
    {"choices": ["1,000", "2.5", "$3"]},
]
MC_RESPONSES: list[list[Any]] = [
    ["The answer is (B)", "I'd say Guilty of Romance.", "guilty of romance", "answer: C", "nothing", "(A) or (B)"],
    ["It's paris france", "Rome!", "answer:B", "BERLIN", "", "#### 2"],
    ["It costs $3", "2,5 maybe", "1000", "choice: A", "(C)", None],
]


@pytest.mark.parametrize("kwargs", [
    {"regex_pattern": r"(\([A-Z]\))"},
    {"regex_pattern": r"(\([A-Z]\))", "ignore_case": True},
    {"regex_pattern": r"(\([A-Z]\))", "ignore_case": True, "ignore_punctuation": True},
    {"regex_pattern": r"(\([A-Z]\))", "group_select": -1, "fallback": "[none]"},
    {"regex_pattern": r"answer is \(([A-Z])\)|\(([A-Z])\)", "ignore_punctuation": True},
    {"regex_pattern": r"(\([A-Z]\))", "ignore_case": True, "regexes_to_ignore": [",", r"\$"]},
    {},
])
def test_multi_choice_regex(kwargs: dict[str, Any]) -> None:
    normalises = bool({"ignore_case", "ignore_punctuation", "regexes_to_ignore"} & kwargs.keys())
    resps = [[r for r in inst if r is not None] for inst in MC_RESPONSES] if normalises else MC_RESPONSES
    expected = lm_apply("multi_choice_regex", kwargs, resps, MC_DOCS)
    assert ours("multi_choice_regex", kwargs, resps, MC_DOCS) == expected


def test_multi_choice_regex_non_string_response_with_normalisation_fails_as_in_lm_eval() -> None:
    kwargs, resps, docs = {"ignore_case": True}, [[None]], MC_DOCS[:1]
    with pytest.raises(AttributeError):
        lm_apply("multi_choice_regex", kwargs, resps, docs)
    with pytest.raises(AttributeError):
        ours("multi_choice_regex", kwargs, resps, docs)


def test_custom_takes_a_callable() -> None:
    def shout(resps: list[Any], docs: list[dict[str, Any]]) -> list[Any]:
        return [[r.upper() for r in inst] + [doc["choices"][0]] for inst, doc in zip(resps, docs)]

    resps = [["a"], ["b"]]
    assert ours("custom", {"filter_fn": shout}, resps, DOCS_3[:2]) == lm_apply("custom", {"filter_fn": shout},
                                                                              resps, DOCS_3[:2])
    assert "filter_fn must be a callable" in (check_filter_args("custom", {"filter_fn": "module.fn"}) or "")


def lm_pipeline(name: str, steps: list[tuple[str, Any]], resps: list[list[Any]],
                docs: list[dict[str, Any]]) -> list[Any]:
    instances = [Instance("generate_until", doc, ("q", {}), 0, resps=list(r)) for r, doc in zip(resps, docs)]
    build_filter_ensemble(name, [[fn, kw] for fn, kw in steps]).apply(instances)
    return [inst.filtered_resps[name] for inst in instances]


def test_pipelines_equal_lm_evals_ensembles() -> None:
    gsm_cot: Steps = [("regex", {"regex_pattern": r"The answer is (\-?[0-9\.\,]+)."}), ("take_first", {})]
    flexible: Steps = [("regex", {"group_select": -1, "regex_pattern": r"(-?[$0-9.,]{2,})|(-?[0-9]+)"}),
                ("take_first", {})]
    voting: Steps = [("lowercase", {}), ("remove_whitespace", {}), ("majority_vote", {}), ("take_first", {})]
    first_k: Steps = [("take_first_k", {"k": 2})]
    resps = [["The answer is 42. yes", " #### 7 and 8", "The answer is 42."],
             ["B ", "b", "The answer is -1,5."]]
    docs = DOCS_3[:2]
    pipelines: list[tuple[str, Steps]] = [("strict", gsm_cot), ("flexible", flexible), ("vote", voting),
                                          ("k", first_k)]
    for name, steps in pipelines:
        assert FilterPipeline(name, steps).apply(resps, docs) == lm_pipeline(name, list(steps), resps, docs), name
    assert DEFAULT_PIPELINE.name == "none"
    assert DEFAULT_PIPELINE.apply(resps, docs) == lm_pipeline("none", [("take_first", None)], resps, docs)


def test_check_filter_args() -> None:
    assert check_filter_args("regex", {"regex_pattern": r"(\d+)", "group_select": -1, "fallback": "x"}) is None
    message = check_filter_args("regex", {"regex_patern": "x"}) or ""
    assert "no parameter 'regex_patern'" in message and "did you mean 'regex_pattern'" in message
    assert "not a valid regular expression" in (check_filter_args("regex", {"regex_pattern": "(unclosed"}) or "")
    assert "group_select must be an integer" in (check_filter_args("regex", {"group_select": "0"}) or "")
    assert "group_select must be an integer" in (check_filter_args("regex", {"group_select": True}) or "")
    assert "not a valid regular expression" in (
        check_filter_args("multi_choice_regex", {"regexes_to_ignore": ["ok", "[bad"]}) or "")
    assert "regexes_to_ignore must be a list" in (
        check_filter_args("multi_choice_regex", {"regexes_to_ignore": ","}) or "")
    assert "needs k" in (check_filter_args("take_first_k", {}) or "")
    assert "has no parameter 'k'" in (check_filter_args("take_first", {"k": 1}) or "")
    assert "mapping_dict must be a mapping" in (check_filter_args("map", {"mapping_dict": ["a"]}) or "")
    unknown = check_filter_args("majority_votes", {}) or ""
    assert "unknown filter 'majority_votes'" in unknown and "did you mean 'majority_vote'" in unknown
    with pytest.raises(ValueError, match="filter_list 'strict': filter 'regex'"):
        FilterPipeline("strict", [("regex", {"regex_pattern": "("})])


def test_registered_filters() -> None:
    assert set(FILTERS.names()) == {"regex", "take_first", "take_first_k", "majority_vote", "remove_whitespace",
                                    "lowercase", "uppercase", "map", "multi_choice_regex", "custom"}
    assert FILTERS.get("custom").params == {"filter_fn"}
    assert isinstance(FILTERS.get("regex").factory(), filters.Filter)
