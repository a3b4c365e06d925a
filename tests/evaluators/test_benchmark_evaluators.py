"""The benchmark evaluators' parts against lm-eval's own code and task files, without a model:
MMLU's subject table and descriptions, HellaSwag's preprocessing, GSM8K's filters and metric,
the few-shot samplers, the pooled standard error; plus data loading, settings and the suite."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest

from evalkit.data import DatasetSpec
from evalkit.errors import ConfigError, UserError
from evalkit.evaluator import TaskContext
from evalkit.evaluators import gsm8k, hellaswag, mmlu
from evalkit.evaluators._fewshot import FewshotSettings, PromptBuilder, RandomSampler
from evalkit.parity.lm_eval_tasks import lm_eval_tasks_dir
from evalkit.scores import ItemScore
from evalkit.suites.loader import load_suite
from evalkit.suites.schema import GenerationSettings
from tests.conftest import REPO, SHARED_DATA, run_cli, write_jsonl

needs_shared_data = pytest.mark.skipif(not (SHARED_DATA / "mmlu" / "data").is_dir(),
                                       reason=f"the shared benchmark data is not at {SHARED_DATA}")


def _ctx(tmp_path: Path, data_root: Path | None = None, **kwargs: Any) -> TaskContext:
    return TaskContext("t", 1234, GenerationSettings(), tmp_path, data_root, **kwargs)


# -- MMLU -----------------------------------------------------------------------------------------
def test_mmlu_subjects_and_descriptions_are_lm_evals() -> None:
    from lm_eval.tasks._yaml_loader import load_yaml

    found = {}
    for path in sorted((lm_eval_tasks_dir() / "mmlu" / "default").glob("mmlu_*.yaml")):
        config = load_yaml(path, resolve_func=False, recursive=False)
        subject = config["dataset_name"]
        found[subject] = config["tag"].removeprefix("mmlu_").removesuffix("_tasks")
        assert mmlu.description(subject) == config["description"], subject
    assert found == mmlu.SUBJECTS
    assert set(found.values()) == set(mmlu.CATEGORIES)


def test_mmlu_question_text_is_lm_evals_template() -> None:
    from lm_eval.utils import apply_template

    template = ("{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}"
                "\nAnswer:")
    doc = {"question": "  What is 1+1?\n", "choices": ["None", "0.50", " 2", "two\nlines"], "answer": 2}
    assert mmlu.question_text(doc) == apply_template(template, doc)


@needs_shared_data
def test_mmlu_reads_the_hendrycks_mirror_under_data_root(tmp_path: Path) -> None:
    settings = mmlu.MMLUSettings(num_fewshot=5)
    evaluator = mmlu.MMLU(settings, _ctx(tmp_path, SHARED_DATA))
    docs = evaluator.load_docs(mmlu.MMLU.default_dataset)  # cais/mmlu -> DIR/mmlu -> data/
    assert len(docs) == 14042
    assert {d["subject"] for d in docs} == set(mmlu.SUBJECTS)
    assert docs[0]["subject"] == "abstract_algebra" and docs[0]["answer"] in range(4) and len(docs[0]["choices"]) == 4
    assert all(len(evaluator._dev_pool(s)) == 5 for s in mmlu.SUBJECTS)
    requests = evaluator.requests(docs[0], 0)
    assert [r.continuation for r in requests] == [" A", " B", " C", " D"]
    assert requests[0].context.count("\nAnswer: ") == 5

    some = mmlu.MMLU(mmlu.MMLUSettings(subjects=["virology", "anatomy"], limit_per_subject=3),
                     _ctx(tmp_path, SHARED_DATA)).load_docs(mmlu.MMLU.default_dataset)
    assert [d["subject"] for d in some] == ["anatomy"] * 3 + ["virology"] * 3


def test_mmlu_local_cais_files_and_errors(tmp_path: Path) -> None:
    rows = [{"question": f"Q{i}?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": i % 4}
            for i in range(3)]
    write_jsonl(tmp_path / "test.jsonl", rows)
    spec = DatasetSpec(path="json", data_files={"test": "test.jsonl"}, split="test")
    evaluator = mmlu.MMLU(mmlu.MMLUSettings(num_fewshot=1), _ctx(tmp_path))
    docs = evaluator.load_docs(spec)
    assert docs == rows
    with pytest.raises(UserError):  # no dev split to take shots from
        evaluator.requests(docs[0], 0)
    write_jsonl(tmp_path / "bad.jsonl", [{"text": "x"}])
    with pytest.raises(UserError, match="cais/mmlu fields"):
        evaluator.load_docs(DatasetSpec(path="json", data_files="bad.jsonl"))


def test_mmlu_aggregates_as_lm_eval_groups() -> None:
    from lm_eval.api.metrics import aggregate_subtask_metrics, mean_stderr, pooled_sample_stderr

    rng = random.Random(0)
    subjects = {"anatomy": 7, "virology": 12, "marketing": 4}
    scores = [ItemScore("none", [], {"acc": float(rng.random() < 0.4)}, {"subject": s})
              for s, n in subjects.items() for _ in range(n)]
    per_subject = {s: [x.metrics["acc"] for x in scores if x.details["subject"] == s] for s in subjects}
    evaluator = mmlu.MMLU(mmlu.MMLUSettings(), _ctx(Path(".")))
    group = evaluator.aggregate("none", scores)["acc"]
    sizes = [len(v) for v in per_subject.values()]
    assert group.value == pytest.approx(aggregate_subtask_metrics([sum(v) / len(v) for v in per_subject.values()],
                                                                  sizes), abs=1e-12)
    assert group.stderr == pytest.approx(pooled_sample_stderr([mean_stderr(v) for v in per_subject.values()], sizes),
                                         abs=1e-12)
    assert group.n == sum(sizes)
    one = evaluator.aggregate("none", [s for s in scores if s.details["subject"] == "anatomy"])["acc"]
    assert one.stderr == pytest.approx(mean_stderr(per_subject["anatomy"]), abs=1e-12)
    # A one-question subject has no stderr in lm-eval ("N/A"), nor then do its groups.
    lonely = [*scores, ItemScore("none", [], {"acc": 1.0}, {"subject": "sociology"})]
    assert evaluator.aggregate("none", lonely)["acc"].stderr is None


# -- HellaSwag ------------------------------------------------------------------------------------
HUB_DOCS = [
    {"activity_label": "Making a cake", "ctx_a": "[header] How to bake [title] Preheat  the oven.",
     "ctx_b": "then, she", "endings": [" [step] mixes flour [title] and eggs.  ", "runs.", "[substeps] sits", "x"],
     "label": "2"},
    {"activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
     "endings": ["is using wrap.", "is ripping tiles off.", "holds a cube.", "starts pulling."], "label": "3"},
]


def test_hellaswag_documents_are_lm_evals() -> None:
    import datasets
    from lm_eval.tasks.hellaswag import utils

    expected = list(utils.process_docs(datasets.Dataset.from_list(HUB_DOCS)))
    assert [hellaswag.process_doc(d) for d in HUB_DOCS] == expected
    for text in ("  a [title] b", "[step] x  y [header]", "no markers", " [title][title]  z "):
        assert hellaswag.preprocess(text) == utils.preprocess(text)
    # A ctx-only document (the klosax-derived file) is preprocess(ctx).
    local = hellaswag.process_doc({"ctx": "Label: a b. he", "endings": ["x", "y"], "label": 1})
    assert (local["query"], local["choices"], local["gold"]) == ("Label: a b. he", ["x", "y"], 1)


def test_hellaswag_finds_a_val_file_in_a_mirror(tmp_path: Path) -> None:
    rows = [{"idx": i, "ctx": f"Act: thing {i}", "label": 0, "endings": ["a", "b", "c", "d"]} for i in range(3)]
    write_jsonl(tmp_path / "mirror" / "hellaswag" / "hellaswag_val.jsonl", rows)
    evaluator = hellaswag.HellaSwag(hellaswag.HellaSwagSettings(), _ctx(tmp_path, tmp_path / "mirror"))
    docs = evaluator.load_docs(hellaswag.HellaSwag.default_dataset)  # Rowan/hellaswag -> DIR/hellaswag
    assert [d["query"] for d in docs] == ["Act: thing 0", "Act: thing 1", "Act: thing 2"]
    assert [r.continuation for r in evaluator.requests(docs[0], 0)] == [" a", " b", " c", " d"]
    shots = hellaswag.HellaSwag(hellaswag.HellaSwagSettings(num_fewshot=1), _ctx(tmp_path, tmp_path / "mirror"))
    shots.load_docs(hellaswag.HellaSwag.default_dataset)
    with pytest.raises(UserError, match="split 'train'"):
        shots.requests(docs[0], 0)


# -- GSM8K ----------------------------------------------------------------------------------------
RESPONSES = [
    " Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
    " The answer is $1,234.50.", " #### -3.5", "#### 1,000\n#### 7.", "no number here", "", "7", " x 12 and 3",
    " #### 18.\n\n", "$18", "18.", " The answer is 18", " #### 18 and later 19", "#### $18", "...", " 1.2.3,4",
]


def test_gsm8k_filters_and_exact_match_are_lm_evals() -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters import build_filter_ensemble
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(lm_eval_tasks_dir() / "gsm8k" / "gsm8k.yaml", resolve_func=False)
    (metric,) = config["metric_list"]
    metric_kwargs = {k: v for k, v in metric.items() if k not in ("metric", "aggregation", "higher_is_better")}
    golds = ["Janet sells ... $18 every day.\n#### 18", "So 1,234.5 in total.\n#### 1234.5", "#### -3.5"]
    evaluator = gsm8k.GSM8K(gsm8k.GSM8KSettings(), _ctx(Path(".")))
    assert [name for name, _, _ in gsm8k.FILTERS] == [f["name"] for f in config["filter_list"]]
    for gold in golds:
        doc = {"question": "q", "answer": gold}
        instances = []
        for text in RESPONSES:
            instance = Instance(request_type="generate_until", doc=doc, arguments=("", {}), idx=0)
            instance.resps = [text]
            instances.append(instance)
        for spec in config["filter_list"]:
            components = [(f["function"], {k: v for k, v in f.items() if k != "function"}) for f in spec["filter"]]
            build_filter_ensemble(spec["name"], components).apply(instances)
        for text, instance in zip(RESPONSES, instances):
            mine = {s.filter: s for s in evaluator.score(doc, [text])}
            for name, expected in instance.filtered_resps.items():
                assert mine[name].filtered_resps == [expected], (text, name)
                em = exact_match_hf_evaluate(predictions=[expected], references=[gold], **metric_kwargs)
                assert mine[name].metrics["exact_match"] == em["exact_match"], (text, name, gold)


@needs_shared_data
def test_gsm8k_reads_the_mirror_and_draws_lm_evals_shots(tmp_path: Path) -> None:
    from lm_eval.api.samplers import ContextSampler

    evaluator = gsm8k.GSM8K(gsm8k.GSM8KSettings(), _ctx(tmp_path, SHARED_DATA))
    docs = evaluator.load_docs(gsm8k.GSM8K.default_dataset)  # openai/gsm8k -> DIR/gsm8k/test.jsonl
    assert len(docs) == 1319
    train = [json.loads(line) for line in (SHARED_DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    sampler = ContextSampler(train, rnd=None).set_rnd(1234)  # as simple_evaluate's fewshot_random_seed
    for doc_id in range(4):
        shots = sampler.sample(n=5)
        context = evaluator.requests(docs[doc_id], doc_id)[0].context
        expected = "".join(f"Question: {s['question']}\nAnswer: {s['answer']}\n\n" for s in shots)
        assert context == expected + f"Question: {docs[doc_id]['question']}\nAnswer:"


# -- shared few-shot machinery --------------------------------------------------------------------
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


def test_first_n_sampler_is_lm_evals() -> None:
    from lm_eval.api.samplers import FirstNSampler as LmEvalFirstN

    from evalkit.evaluators._fewshot import FirstNSampler

    pool = [{"i": i % 6} for i in range(8)]  # with duplicates, which lm-eval drops too
    for doc in (pool[0], pool[3], {"i": 99}):
        assert FirstNSampler(pool, 5, exclude_eval_doc=True).shots(0, doc) == LmEvalFirstN(pool).sample(5, doc)
    assert FirstNSampler(pool, 5).shots(0, pool[0]) == LmEvalFirstN(pool).sample(5)
    with pytest.raises(UserError, match="only 6"):
        FirstNSampler(pool, 7, exclude_eval_doc=True).shots(0, pool[0])


def test_plain_and_chat_rendering_follow_lm_evals_messages(tmp_path: Path) -> None:
    from lm_eval.api.utils import Message, multiturn_to_singleturn

    seen: list[list[dict[str, str]]] = []
    ctx = _ctx(tmp_path, format_chat=lambda messages: seen.append(messages) or "<chat>")
    shots = [("Q1\nAnswer:", "A"), ("Q2\nAnswer:", "B")]
    plain = PromptBuilder(FewshotSettings(system_instruction="Be brief."), ctx)
    assert plain.context("Desc.\n\n", shots, "Q3\nAnswer:") == \
        "Be brief.\n\nDesc.\n\nQ1\nAnswer: A\n\nQ2\nAnswer: B\n\nQ3\nAnswer:"
    lm_messages = [Message("system", "Desc.\n\n"), Message("user", "Q1\nAnswer:", " "),
                   Message("assistant", "A", "\n\n"), Message("user", "Q2\nAnswer:", " "),
                   Message("assistant", "B", "\n\n"), Message("user", "Q3\nAnswer:", "")]
    PromptBuilder(FewshotSettings(apply_chat_template=True), ctx).context("Desc.\n\n", shots, "Q3\nAnswer:")
    assert seen[-1] == [m.to_dict() for m in lm_messages]
    single = PromptBuilder(FewshotSettings(apply_chat_template=True, fewshot_as_multiturn=False), ctx)
    single.context("Desc.\n\n", shots, "Q3\nAnswer:")
    assert seen[-1] == multiturn_to_singleturn(lm_messages)
    assert single.continuation_delimiter == "" and plain.continuation_delimiter == " "
    with pytest.raises(UserError, match="no chat template"):
        PromptBuilder(FewshotSettings(apply_chat_template=True), _ctx(tmp_path)).context("", [], "Q")


# -- settings and the suite -----------------------------------------------------------------------
@pytest.mark.parametrize(("setting", "message"), [
    ("fewshot_as_multiturn: true", "needs apply_chat_template"),
    ("subjects: [astrology]", "unknown subject 'astrology'"),
])
def test_bad_settings_are_config_errors(tmp_path: Path, setting: str, message: str) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"suite: s\ntasks:\n  - name: m\n    evaluator: mmlu\n    {setting}\n")
    with pytest.raises(ConfigError, match=message):
        load_suite(suite)


@needs_shared_data
def test_benchmarks_suite_resolves_every_task_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hub id of suites/benchmarks.yaml finds its mirror under a relative --data-root."""
    monkeypatch.chdir(REPO)
    suite = load_suite(REPO / "suites" / "benchmarks.yaml")
    data_root = Path(os.path.relpath(SHARED_DATA, REPO))  # ../shared/data, as the README says
    expected = {"mmlu": (14042, 4), "hellaswag": (10042, 4), "gsm8k": (1319, 1)}
    assert {t.name: t.settings.num_fewshot for t in suite.tasks} == {"mmlu": 5, "hellaswag": 0, "gsm8k": 5}
    for task in suite.tasks:
        ctx = TaskContext(task.name, suite.defaults.seed, task.generation, task.base_dir, data_root,
                          dataset=task.dataset)
        evaluator = task.evaluator(task.settings, ctx)
        docs = evaluator.load_docs(task.dataset)
        assert (len(docs), len(evaluator.requests(docs[0], 0))) == expected[task.name]


@needs_shared_data
def test_benchmarks_suite_runs_offline_from_the_shared_data(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "out"
    # The log-likelihood tasks only: GSM8K would generate 256 tokens, and its prompts are checked above.
    proc = run_cli("run", "suites/benchmarks.yaml", "--model", str(tiny_model_dir), "--data-root",
                   os.path.relpath(SHARED_DATA, REPO), "--limit", "2", "--tasks", "mmlu,hellaswag",
                   "--output", str(out), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert {"mmlu", "mmlu_stem", "mmlu_abstract_algebra", "hellaswag"} <= set(results["results"])
    assert results["n-samples"]["hellaswag"] == {"original": 10042, "effective": 2}
    assert math.isfinite(results["results"]["hellaswag"]["acc_norm,none"])
