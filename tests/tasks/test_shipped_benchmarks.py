"""The shipped MMLU, HellaSwag and GSM8K task files without a model: equal to lm-eval 0.4.13's own files, their
documents and shots read from a ``--data-root`` mirror of ../shared/data as lm-eval reads and draws them,
GSM8K's filters and metric against lm-eval's own, the ctx-only form of the HellaSwag built-in, and the suites
that use them. Item-by-item runs against lm-eval on a model: test_lm_eval_parity.py."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lm_eval import utils as lm_utils
from lm_eval.tasks._yaml_loader import load_yaml as lm_load_yaml

from evalkit.errors import ConfigError, UserError
from evalkit.evaluator import TaskContext
from evalkit.parity.mirror import build_mirror, read_hendrycks_csv, write_mmlu
from evalkit.suites import load_suite
from evalkit.suites.schema import GenerationSettings
from evalkit.tasks.loader import SHIPPED_DIR, LoadedTask, TaskLoader
from evalkit.tasks.schema import BuiltinRef
from evalkit.tasks.task import TaskFileEvaluator, settings_for
from tests.conftest import REPO, SHARED_DATA, run_cli, write_jsonl

LM_EVAL_TASKS = Path(lm_utils.__file__).parent / "tasks"
LM_MMLU = LM_EVAL_TASKS / "mmlu" / "default"
needs_shared_data = pytest.mark.skipif(not (SHARED_DATA / "mmlu" / "data").is_dir(),
                                       reason=f"the shared benchmark data is not at {SHARED_DATA}")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (SHARED_DATA / "mmlu" / "data").is_dir():
        pytest.skip(f"the shared benchmark data is not at {SHARED_DATA}")
    return build_mirror(SHARED_DATA, tmp_path_factory.mktemp("mirror"))


def load(name: str) -> LoadedTask:
    (task,) = TaskLoader().load(name).tasks
    return task


def evaluator(task: LoadedTask, data_root: Path | None, **settings: Any) -> TaskFileEvaluator:
    ctx = TaskContext(task.name, 1234, GenerationSettings(), task.path.parent, data_root)
    return TaskFileEvaluator(settings_for(task, **settings), ctx)


def merged(path: Path) -> dict[str, Any]:
    return TaskLoader().merged_config(path)


# -- the files are lm-eval's ------------------------------------------------------------------------------

def test_every_mmlu_subject_file_is_lm_evals() -> None:
    """Merged with their template, the 57 subject files equal lm-eval's ``mmlu/default`` ones key for key."""
    theirs = sorted(LM_MMLU.glob("mmlu_*.yaml"))
    assert len(theirs) == 57
    assert sorted(p.name for p in (SHIPPED_DIR / "mmlu").glob("mmlu_*.yaml")) == [p.name for p in theirs]
    for path in theirs:
        assert merged(SHIPPED_DIR / "mmlu" / path.name) == lm_load_yaml(path, resolve_func=False), path.name


@pytest.mark.parametrize("group", ["_mmlu.yaml", "_mmlu_stem.yaml", "_mmlu_humanities.yaml",
                                   "_mmlu_social_sciences.yaml", "_mmlu_other.yaml"])
def test_the_mmlu_groups_are_lm_evals(group: str) -> None:
    assert merged(SHIPPED_DIR / "mmlu" / group) == lm_load_yaml(LM_MMLU / group, resolve_func=False)


def test_the_mmlu_group_holds_the_57_subjects_in_four_categories() -> None:
    collection = TaskLoader().load("mmlu")
    assert len(collection.tasks) == 57
    groups = {g.name: g for g in collection.groups}
    assert list(groups) == ["mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities", "mmlu"]
    assert groups["mmlu"].members == ("mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities")
    by_category = {name: set(g.members) for name, g in groups.items() if name != "mmlu"}
    tags = {p.stem: lm_load_yaml(p, resolve_func=False)["tag"] for p in LM_MMLU.glob("mmlu_*.yaml")}
    for category, members in by_category.items():
        assert members == {name for name, tag in tags.items() if tag == f"{category}_tasks"}
    assert all(g.aggregate and g.aggregate[0].weight_by_size for g in groups.values())


def test_gsm8k_is_lm_evals() -> None:
    assert merged(SHIPPED_DIR / "gsm8k" / "gsm8k.yaml") == lm_load_yaml(LM_EVAL_TASKS / "gsm8k" / "gsm8k.yaml",
                                                                        resolve_func=False)


def test_hellaswag_is_lm_evals_with_the_built_in_for_its_helper() -> None:
    ours = merged(SHIPPED_DIR / "hellaswag" / "hellaswag.yaml")
    theirs = lm_load_yaml(LM_EVAL_TASKS / "hellaswag" / "hellaswag.yaml", resolve_func=False)
    ref = ours.pop("process_docs")
    assert isinstance(ref, BuiltinRef) and ref.name == "hellaswag.process_docs"
    assert theirs.pop("process_docs").endswith("hellaswag/utils.process_docs")
    assert ours == theirs
    # lm-eval's own file, loaded without allowing code, gets the same built-in for its !function.
    (task,) = TaskLoader().load(LM_EVAL_TASKS / "hellaswag" / "hellaswag.yaml").tasks
    assert list(task.functions.values()) == list(load("hellaswag").functions.values())


# -- documents and shots, from the mirror ----------------------------------------------------------------

def test_the_mirror_converts_mmlu_as_cais_mmlus_builder_reads_the_csvs(tmp_path: Path) -> None:
    rows = [["What, exactly?", "None", "0.50", "two\nlines", ' "quoted" ', "C"], ["Q2", "a", "b", "c", "d", "A"]]
    for split in ("dev", "test"):
        (tmp_path / "h" / split).mkdir(parents=True)
        with (tmp_path / "h" / split / f"anatomy_{split}.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    assert write_mmlu(tmp_path / "h", tmp_path / "m", test_rows=1) == ["anatomy"]
    test = [json.loads(x) for x in (tmp_path / "m" / "cais" / "mmlu" / "anatomy" / "test.jsonl").open()]
    assert test == [{"question": "What, exactly?", "subject": "anatomy",
                     "choices": ["None", "0.50", "two\nlines", ' "quoted" '], "answer": 2}]
    assert len((tmp_path / "m" / "cais" / "mmlu" / "anatomy" / "dev.jsonl").read_text().splitlines()) == 2
    (tmp_path / "bad.csv").write_text("q,a,b,c,d,E\n")
    with pytest.raises(UserError, match=r"bad\.csv:1: expected question,A,B,C,D,answer-letter"):
        read_hendrycks_csv(tmp_path / "bad.csv", "x")


@needs_shared_data
def test_mmlu_reads_the_mirror_and_takes_the_first_dev_questions(mirror: Path) -> None:
    total = 0
    for task in TaskLoader().load("mmlu").tasks:
        docs = evaluator(task, mirror).load_docs(evaluator(task, mirror).task_dataset())
        subject = task.config.dataset_name
        assert subject is not None and all(d["subject"] == subject for d in docs)
        total += len(docs)
    assert total == 14042
    anatomy = evaluator(load("mmlu_anatomy"), mirror, num_fewshot=5)
    docs = anatomy.load_docs(anatomy.task_dataset())
    requests = anatomy.requests(docs[0], 0)
    assert [r.continuation for r in requests] == [" A", " B", " C", " D"]
    dev = read_hendrycks_csv(SHARED_DATA / "mmlu" / "data" / "dev" / "anatomy_dev.csv", "anatomy")
    shots = "".join(f"{d['question'].strip()}\nA. {d['choices'][0]}\nB. {d['choices'][1]}\nC. {d['choices'][2]}\n"
                    f"D. {d['choices'][3]}\nAnswer: {'ABCD'[d['answer']]}\n\n" for d in dev)
    assert requests[0].context.startswith("The following are multiple choice questions (with answers) about "
                                          "anatomy.\n\n" + shots)


@needs_shared_data
def test_gsm8k_reads_the_mirror_and_draws_lm_evals_shots(mirror: Path) -> None:
    from lm_eval.api.samplers import ContextSampler

    gsm8k = evaluator(load("gsm8k"), mirror)
    docs = gsm8k.load_docs(gsm8k.task_dataset())
    assert len(docs) == 1319
    train = [json.loads(line) for line in (SHARED_DATA / "gsm8k" / "train.jsonl").read_text().splitlines()]
    sampler = ContextSampler(train, rnd=None).set_rnd(1234)  # as simple_evaluate's fewshot_random_seed
    for doc_id in range(4):
        shots = sampler.sample(n=5)
        (request,) = gsm8k.requests(docs[doc_id], doc_id)
        expected = "".join(f"Question: {s['question']}\nAnswer: {s['answer']}\n\n" for s in shots)
        assert request.context == expected + f"Question: {docs[doc_id]['question']}\nAnswer:"
        assert request.until == ("Question:", "</s>", "<|im_end|>") and request.max_gen_toks == 256


@needs_shared_data
def test_hellaswag_reads_the_ctx_only_copy_as_lm_eval_reads_the_same_rows_in_the_hubs_shape(mirror: Path) -> None:
    import datasets
    from lm_eval.tasks.hellaswag import utils

    from evalkit.parity.lm_eval_tasks import as_hub

    hellaswag = evaluator(load("hellaswag"), mirror)
    docs = hellaswag.load_docs(hellaswag.task_dataset())  # Rowan/hellaswag -> the linked hellaswag_val.jsonl
    assert len(docs) == 10042
    raw = [json.loads(line) for line in (SHARED_DATA / "hellaswag" / "hellaswag_val.jsonl").open()][:500]
    reference = utils.process_docs(datasets.Dataset.from_list(as_hub(raw)))
    for ours, theirs in zip(docs, reference):
        assert (ours["query"], ours["choices"], ours["gold"]) == (theirs["query"], theirs["choices"], theirs["gold"])
    assert [r.continuation for r in hellaswag.requests(docs[0], 0)] == [" " + c for c in docs[0]["choices"]]


def test_the_hellaswag_built_in_names_what_a_document_lacks() -> None:
    from evalkit.tasks.builtins import BUILTINS

    process = BUILTINS.get("hellaswag.process_docs")
    with pytest.raises(UserError, match=r"needs activity_label, ctx_a, ctx_b .* or ctx; it has endings, label"):
        process([{"endings": ["a"], "label": 0}])
    with pytest.raises(UserError, match=r"no label .* validation split"):
        process([{"ctx": "x", "endings": ["a"], "label": ""}])


# -- GSM8K's scoring -------------------------------------------------------------------------------------

RESPONSES = [
    " Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18",
    " The answer is $1,234.50.", " #### -3.5", "#### 1,000\n#### 7.", "no number here", "", "7", " x 12 and 3",
    " #### 18.\n\n", "$18", "18.", " The answer is 18", " #### 18 and later 19", "#### $18", "...", " 1.2.3,4",
]


def test_gsm8k_filters_and_exact_match_are_lm_evals(tmp_path: Path) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters import build_filter_ensemble

    config = lm_load_yaml(LM_EVAL_TASKS / "gsm8k" / "gsm8k.yaml", resolve_func=False)
    (metric,) = config["metric_list"]
    metric_kwargs = {k: v for k, v in metric.items() if k not in ("metric", "aggregation", "higher_is_better")}
    golds = ["Janet sells ... $18 every day.\n#### 18", "So 1,234.5 in total.\n#### 1234.5", "#### -3.5"]
    docs = [{"question": f"q{i}", "answer": gold} for i, gold in enumerate(golds)]
    write_jsonl(tmp_path / "openai" / "gsm8k" / "main" / "test.jsonl", docs)
    write_jsonl(tmp_path / "openai" / "gsm8k" / "main" / "train.jsonl", docs)
    gsm8k = evaluator(load("gsm8k"), tmp_path)
    gsm8k.load_docs(gsm8k.task_dataset())
    for doc in docs:
        instances = []
        for text in RESPONSES:
            instance = Instance(request_type="generate_until", doc=doc, arguments=("", {}), idx=0)
            instance.resps = [text]
            instances.append(instance)
        for spec in config["filter_list"]:
            components = [(f["function"], {k: v for k, v in f.items() if k != "function"}) for f in spec["filter"]]
            build_filter_ensemble(spec["name"], components).apply(instances)
        for text, instance in zip(RESPONSES, instances):
            mine = {s.filter: s for s in gsm8k.score(doc, [text])}
            assert list(mine) == [f["name"] for f in config["filter_list"]]
            for name, expected in instance.filtered_resps.items():
                assert mine[name].filtered_resps == [expected], (text, name)
                em = exact_match_hf_evaluate(predictions=[expected], references=[doc["answer"]], **metric_kwargs)
                assert mine[name].metrics["exact_match"] == em["exact_match"], (text, name, doc["answer"])


# -- the suites ------------------------------------------------------------------------------------------

def test_every_shipped_suite_loads() -> None:
    for path in sorted((REPO / "suites").glob("*.yaml")):
        assert load_suite(path).tasks, path


def test_the_benchmarks_suite_lists_the_task_files_with_lm_evals_shot_counts() -> None:
    suite = load_suite(REPO / "suites" / "benchmarks.yaml")
    shots = {t.name: t.settings.num_fewshot for t in suite.tasks}  # type: ignore[attr-defined]
    assert len(shots) == 59 and shots.pop("hellaswag") == 0 and shots.pop("gsm8k") == 5
    assert sorted(shots) == sorted(p.stem for p in LM_MMLU.glob("mmlu_*.yaml")) and set(shots.values()) == {5}
    assert [g.name for g in suite.groups] == ["mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities",
                                              "mmlu"]


def test_multiturn_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n  - task: mmlu_anatomy\n    fewshot_as_multiturn: true\n")
    with pytest.raises(ConfigError, match="fewshot_as_multiturn: true only with apply_chat_template: true"):
        load_suite(suite)


@needs_shared_data
def test_the_benchmarks_suite_runs_offline_from_the_mirror(tmp_path: Path, tiny_model_dir: Path) -> None:
    mirror = tmp_path / "mirror"  # built as the README says
    made = subprocess.run([sys.executable, "-m", "evalkit.parity.mirror", os.path.relpath(SHARED_DATA, REPO),
                           str(mirror)], cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0 and f"use --data-root {mirror}" in made.stdout, made.stderr
    out = tmp_path / "out"
    # A subject and HellaSwag: GSM8K would generate 256 tokens, and the groups need all 57 subjects
    # (test_lm_eval_parity.py runs them).
    proc = run_cli("run", "suites/benchmarks.yaml", "--model", str(tiny_model_dir), "--data-root", str(mirror),
                   "--limit", "2", "--tasks", "mmlu_abstract_algebra,hellaswag", "--output", str(out), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert {"mmlu_abstract_algebra", "hellaswag"} == set(results["results"])
    assert results["n-samples"]["hellaswag"] == {"original": 10042, "effective": 2}
    assert math.isfinite(results["results"]["hellaswag"]["acc_norm,none"])
