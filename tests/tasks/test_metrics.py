"""evalkit.tasks.metrics against lm-eval 0.4.13 itself: its process_results, aggregations and stderrs.

lm-eval's ``ConfigurableTask.process_results`` is called on a task object built without a dataset
(the attributes its ``__init__`` would set from the same metric_list), so each per-item value is
compared with what lm-eval computes for the same document and responses.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from lm_eval.api import metrics as lm_metrics
from lm_eval.api.registry import (
    DEFAULT_METRIC_REGISTRY,
    aggregation_registry,
    get_metric,
    get_metric_aggregation,
    higher_is_better_registry,
    is_higher_better,
    metric_agg_registry,
    metric_registry,
)
from lm_eval.api.task import ConfigurableTask
from lm_eval.config.task import TaskConfig
from lm_eval.evaluator_utils import _compute_task_aggregations

from evalkit.registry import UnknownName
from evalkit.tasks import metrics
from evalkit.tasks._metric_bootstrap import resample_indices

LM_AGGREGATION_NAME = {fn: name for name, fn in aggregation_registry.items()}
MetricList = list[tuple[str, dict[str, Any]]]


@pytest.fixture(autouse=True)
def _single_process_lm_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    # lm-eval's pool and single-process bootstraps draw the same samples; one process keeps the CPUs free.
    monkeypatch.setenv("DISABLE_MULTIPROC", "1")


def lm_task(output_type: str, metric_list: list[tuple[str, dict[str, Any]]], *, has_choices: bool = False,
            multiple_target: bool = False, multiple_input: bool = False) -> ConfigurableTask:
    """A ConfigurableTask whose process_results is lm-eval's default path, without loading a dataset."""
    task = ConfigurableTask.__new__(ConfigurableTask)
    config: dict[str, Any] = {
        "task": "t", "output_type": output_type, "doc_to_text": lambda d: d.get("text", "q"),
        "doc_to_target": lambda d: d["target"], "metric_list": [{"metric": m, **o} for m, o in metric_list],
        "generation_kwargs": {"until": ["\n"]},
    }
    if has_choices:
        config["doc_to_choice"] = lambda d: d["choices"]
    task._config = TaskConfig(**config)
    task.prompt = None
    task.OUTPUT_TYPE = output_type
    task._metric_fn_list, task._metric_fn_kwargs, task._aggregation_list, task._higher_is_better = {}, {}, {}, {}
    for name, options in metric_list:
        task._metric_fn_list[name] = get_metric(name)
        task._metric_fn_kwargs[name] = dict(options)
        task._aggregation_list[name] = get_metric_aggregation(name)
        task._higher_is_better[name] = is_higher_better(name)
    task.multiple_input, task.multiple_target = int(multiple_input), int(multiple_target)
    return task


def same(a: Any, b: Any) -> bool:
    """Equal values, numpy scalars and arrays included; tuples and lists compare alike."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def quiet(function: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return function()


# -- the registry ---------------------------------------------------------------------------------


def test_metrics_and_aggregations_are_lm_evals() -> None:
    assert set(metrics.METRICS.names()) == set(metric_registry.keys())
    assert set(metrics.AGGREGATIONS.names()) == set(aggregation_registry.keys())
    for name in metric_registry.keys():
        definition = metrics.METRICS.get(name)
        assert definition.aggregation == LM_AGGREGATION_NAME[metric_agg_registry.get(name)], name
        assert definition.higher_is_better == higher_is_better_registry.get(name), name
    assert {k: list(v) for k, v in metrics.DEFAULT_METRICS.items()} == DEFAULT_METRIC_REGISTRY
    assert metrics.METRICS.get("exact_match").options == {"ignore_case", "ignore_punctuation", "ignore_numbers",
                                                          "regexes_to_ignore"}


def compare(task: ConfigurableTask, doc: dict[str, Any], results: list[Any], metric_list: MetricList,
            *, gold: Any = None, multiple_input: bool = False) -> dict[str, Any]:
    expected = quiet(lambda: task.process_results(doc, results))
    got = metrics.process_results(
        task.OUTPUT_TYPE, metric_list, results, gold=doc["target"] if gold is None else gold,
        choices=doc.get("choices"), multiple_input=multiple_input, target_text=str(doc["target"]),
        multiple_target=bool(task.multiple_target))
    assert same(got, expected), (doc, results, got, expected)
    return got


def test_loglikelihood() -> None:
    metric_list: MetricList = [("perplexity", {}), ("acc", {}), ("acc_norm", {})]  # acc_norm: lm-eval computes nothing
    task = lm_task("loglikelihood", metric_list)
    for ll, greedy in [(-1.25, True), (-7.0, False), (0.0, True)]:
        got = compare(task, {"target": " x"}, [(ll, greedy)], metric_list)
        assert got == {"perplexity": ll, "acc": int(greedy)}


@pytest.mark.parametrize("text", ["one two  three", "  lead and trail \n", "naïve café ☕ 東京", "x"])
def test_loglikelihood_rolling(text: str) -> None:
    metric_list: MetricList = [("word_perplexity", {}), ("byte_perplexity", {}), ("bits_per_byte", {})]
    compare(lm_task("loglikelihood_rolling", metric_list), {"target": text}, [-42.5], metric_list)


MC_METRICS: MetricList = [(m, {}) for m in ("acc", "acc_norm", "acc_bytes", "exact_match", "f1", "mcc", "brier_score",
                                "likelihood")]


def random_mc(rng: random.Random, n_results: int | None = None) -> tuple[list[str], list[tuple[float, bool]]]:
    k = rng.randint(2, 5)
    choices = [rng.choice(["a", "bb", "ccc dd", "é ü", "東京", " yes", "no no no"]) + str(i) for i in range(k)]
    results = [(round(rng.uniform(-20, -0.5), 3), rng.random() < 0.3) for _ in range(n_results or k)]
    return choices, results


def test_multiple_choice_single_gold() -> None:
    rng = random.Random(0)
    task = lm_task("multiple_choice", MC_METRICS, has_choices=True)
    for case in range(60):
        choices, results = random_mc(rng)
        gold: Any = [rng.randrange(len(choices)), len(choices) + 2, choices[0], "not a choice"][case % 4]
        compare(task, {"target": gold, "choices": choices}, results, MC_METRICS)


def test_multiple_choice_gold_out_of_range_scores_wrong() -> None:
    got = metrics.process_results("multiple_choice", MC_METRICS, [(-1.0, True), (-2.0, False)], gold=5,
                                  choices=["a", "b"], multiple_input=False, target_text=None)
    assert got["acc"] == 0.0 and got["exact_match"] == 0 and got["f1"] == (-100, 0)


def test_multiple_choice_several_golds() -> None:
    rng = random.Random(1)
    task = lm_task("multiple_choice", MC_METRICS[:4], has_choices=True, multiple_target=True)
    for _ in range(40):
        choices, results = random_mc(rng)
        gold = rng.sample(range(len(choices) + 2), 2)
        compare(task, {"target": gold, "choices": choices}, results, MC_METRICS[:4])


def test_multiple_choice_mutual_info() -> None:
    rng = random.Random(2)
    metric_list: MetricList = [("acc", {}), ("acc_mutual_info", {}), ("acc_norm", {})]
    task = lm_task("multiple_choice", metric_list, has_choices=True)
    for _ in range(40):
        choices, _ = random_mc(rng)
        _, results = random_mc(rng, 2 * len(choices))
        compare(task, {"target": rng.randrange(len(choices)), "choices": choices}, results, metric_list)
    with pytest.raises(ValueError, match="acc_mutual_info needs 2"):
        metrics.process_results("multiple_choice", metric_list, [(-1.0, True), (-2.0, False)], gold=0,
                                choices=["a", "b"], multiple_input=False, target_text=None)


def test_multiple_choice_multiple_input() -> None:
    rng = random.Random(3)
    task = lm_task("multiple_choice", MC_METRICS, has_choices=True, multiple_input=True)
    for _ in range(20):
        contexts, results = random_mc(rng)
        doc = {"text": rng.randrange(len(contexts)), "target": " the answer", "choices": contexts}
        compare(task, doc, results, MC_METRICS, gold=doc["text"], multiple_input=True)


EM_OPTIONS: list[dict[str, Any]] = [
    {}, {"ignore_case": True}, {"ignore_punctuation": True}, {"ignore_numbers": True},
    {"ignore_case": True, "ignore_punctuation": True, "regexes_to_ignore": [",", "\\$", "(?s).*#### "]},
    {"regexes_to_ignore": []},
]
GEN_PAIRS = [("Hello", "hello"), ("42", "$42"), ("The answer #### 1,234", "1234"), ("a.b", "ab"), ("x1", "x"),
             ("same", "same"), (" pad", "pad")]


@pytest.mark.parametrize("options", EM_OPTIONS)
def test_generate_until_exact_match(options: dict[str, Any]) -> None:
    metric_list: MetricList = [("exact_match", options)]
    task = lm_task("generate_until", metric_list)
    for response, target in GEN_PAIRS + [(t, r) for r, t in GEN_PAIRS]:
        compare(task, {"target": target}, [response], metric_list)


def test_generate_until_passthroughs_and_casts() -> None:
    metric_list: MetricList = [("exact_match", {}), ("bleu", {}), ("chrf", {}), ("chrf++", {}), ("ter", {})]
    task = lm_task("generate_until", metric_list)
    for response, target in [*GEN_PAIRS, ("3", 3), ("3", 4)]:  # an int target is compared as str
        got = compare(task, {"target": target}, [response], metric_list)
        assert got["bleu"] == [str(target), response]
    with_bypass: MetricList = [("exact_match", {}), ("bypass", {})]
    compare(lm_task("generate_until", with_bypass), {"target": "a"}, ["a"], with_bypass)


def test_generate_until_choices_and_several_golds() -> None:
    metric_list: MetricList = [("exact_match", {"ignore_case": True}), ("bleu", {}), ("bypass", {})]
    task = lm_task("generate_until", metric_list, has_choices=True)
    for response in ["B", "b", "A"]:
        compare(task, {"target": 1, "choices": ["A", "B"]}, [response], metric_list)
    task = lm_task("generate_until", metric_list, multiple_target=True)
    for response, golds in [("Paris", ["paris", "Paris, France"]), ("Rome", ["paris", "Lyon"]), ("x", "x")]:
        compare(task, {"target": golds}, [response], metric_list)


def test_generate_until_take_first_k_responses() -> None:
    # A repeated metric keeps its first place and its last options, as lm-eval's dicts do.
    metric_list: MetricList = [("exact_match", {}), ("exact_match", {"ignore_case": True})]
    task = lm_task("generate_until", metric_list[1:])
    got = compare(task, {"target": "a"}, [["A", "a", "b", "a"]], metric_list)
    assert got == {"exact_match": 0.75}


# -- aggregations ---------------------------------------------------------------------------------


def agg_items(rng: random.Random, n: int) -> dict[str, list[Any]]:
    refs = ["the cat sat on the mat", "a quick brown fox jumps", "hello world again", "green eggs and ham", "no"]
    hyps = ["the cat sat on a mat", "quick brown dogs jump", "hello world", "I like eggs", "yes"]
    probs = np.random.default_rng(n).dirichlet(np.ones(4), size=n)
    return {
        "mean": [rng.random() < 0.6 for _ in range(n)],
        "nanmean": [rng.choice([math.nan, rng.random()]) for _ in range(n)],
        "median": [rng.gauss(0, 3) for _ in range(n)],
        "perplexity": [rng.uniform(-5, -0.1) for _ in range(n)],
        "weighted_perplexity": [(rng.uniform(-50, -1), rng.randint(1, 20)) for _ in range(n)],
        "bits_per_byte": [(rng.uniform(-50, -1), rng.randint(1, 20)) for _ in range(n)],
        "f1": [(rng.randint(0, 1), rng.randint(0, 1)) for _ in range(n)],
        "matthews_corrcoef": [(rng.randint(0, 3), rng.randint(0, 3)) for _ in range(n)],
        "brier_score": [(rng.randrange(4), p) for p in probs],
        "bleu": [[rng.choice(refs), rng.choice(hyps) + f" {i % 3}"] for i in range(n)],
        "chrf": [[rng.choice(refs), rng.choice(hyps)] for _ in range(n)],
        "chrf++": [[rng.choice(refs), rng.choice(hyps)] for _ in range(n)],
        "ter": [[rng.choice(refs), [rng.choice(hyps)]] for _ in range(n)],
        "bypass": [None] * n,
    }


def test_aggregations_equal_lm_evals() -> None:
    rng = random.Random(4)
    for n in (2, 7, 40):
        for name, items in agg_items(rng, n).items():
            expected = aggregation_registry.get(name)(items)
            got = metrics.aggregate(name, items)
            both_nan = math.isnan(got) and math.isnan(expected)
            assert both_nan or math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12), (name, n, got, expected)


def test_corpus_scores_with_several_references() -> None:
    items = [[["the cat sat", "a cat sat"], "the cat sat down"], [["hello there", "hi there"], "hello"]]
    for name in ("bleu", "chrf", "ter"):
        assert metrics.aggregate(name, items) == aggregation_registry.get(name)(items)


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn on degenerate label sets
def test_classification_edge_cases_match_sklearn() -> None:
    for items in ([(0, 0), (0, 0)], [(1, 1), (1, 1)], [(1, 5), (5, 5), (1, 1)], [(True, False), (True, True)]):
        assert metrics.aggregate("f1", items) == lm_metrics.f1_score(items)
        assert metrics.aggregate("matthews_corrcoef", items) == lm_metrics.matthews_corrcoef(items)
    for bad in ([(0, 1), (2, 1)], [(0, 2), (2, 0)]):  # multiclass; two labels without 1
        with pytest.raises(ValueError):
            lm_metrics.f1_score(bad)
        with pytest.raises(ValueError):
            metrics.aggregate("f1", bad)


# -- standard errors ------------------------------------------------------------------------------


def lm_stderr(name: str, items: list[Any], iters: int) -> float | None:
    function = lm_metrics.stderr_for_metric(aggregation_registry.get(name), iters)
    return None if function is None else quiet(lambda: function(items))


def test_resamples_are_lm_evals_draws() -> None:
    for n, iters in ((7, 2500), (3, 40)):
        blocks = np.concatenate(list(resample_indices(n, iters)))
        expected = []
        for seed in range(iters // min(1000, iters)):
            rnd = random.Random(seed)
            expected += [rnd.choices(range(n), k=n) for _ in range(min(1000, iters))]
        assert blocks.tolist() == expected


@pytest.mark.parametrize(("name", "iters"), [
    ("mean", 1000), ("f1", 1000), ("matthews_corrcoef", 1000), ("median", 2000), ("median", 1500),
    ("perplexity", 2000), ("nanmean", 500), ("bleu", 1000), ("chrf", 1000), ("chrf++", 100), ("ter", 1000),
    ("median", 100000),
])
def test_stderr_equals_lm_evals(name: str, iters: int) -> None:
    items = agg_items(random.Random(iters), 30)[name]
    expected = lm_stderr(name, items, iters)
    got = metrics.stderr(name, items, iters)
    assert expected is not None and got is not None
    assert math.isclose(got, expected, rel_tol=1e-9), (got, expected)


def test_stderr_not_available() -> None:
    items = agg_items(random.Random(5), 10)
    for name in ("weighted_perplexity", "bits_per_byte", "brier_score", "bypass"):
        assert lm_stderr(name, items[name], 1000) is None
        assert metrics.stderr(name, items[name], 1000) is None
    assert metrics.stderr("mean", items["mean"], 0) is None
    assert metrics.stderr("f1", items["f1"][:1], 1000) is None  # lm-eval: "N/A" for a single item
    with pytest.raises(UnknownName):
        metrics.stderr("avg", [1, 2])


def test_task_aggregation_like_lm_evals_evaluator() -> None:
    """The whole per-task step: lm-eval's _compute_task_aggregations (bleu's bootstrap capped at 100)."""
    items = agg_items(random.Random(6), 25)
    raw = {("acc", "none"): items["mean"], ("bleu", "none"): items["bleu"], ("f1", "none"): items["f1"],
           ("word_perplexity", "none"): items["weighted_perplexity"]}

    class Task:
        task_name = "t"

        def aggregation(self) -> dict[str, Any]:
            return {metric: get_metric_aggregation(metric) for metric, _ in raw}

    expected, _ = quiet(lambda: _compute_task_aggregations(Task(), raw, 300))
    for (metric, _f), values in raw.items():
        aggregation = metrics.METRICS.get(metric).aggregation
        assert math.isclose(metrics.aggregate(aggregation, values), expected[f"{metric},none"], rel_tol=1e-12)
        se = metrics.stderr(aggregation, values, metrics.bootstrap_iters_for(metric, 300))
        lm_se = expected[f"{metric}_stderr,none"]
        assert (se is None and lm_se == "N/A") or (se is not None and math.isclose(se, lm_se, rel_tol=1e-9)), metric


def test_group_aggregates() -> None:
    values, sizes, stderrs = [0.5, 0.75, 0.2], [10, 300, 47], [0.1, 0.02, 0.05]
    for weight_by_size in (True, False):
        assert metrics.weighted_mean(values, sizes, weight_by_size) == lm_metrics.aggregate_subtask_metrics(
            values, sizes, weight_by_size)
    assert metrics.pooled_stderr(stderrs, sizes) == lm_metrics.pooled_sample_stderr(stderrs, sizes)
    assert metrics.unweighted_mean_stderr(stderrs) == lm_metrics.unweighted_mean_stderr(stderrs)
