"""evalkit.tasks.builtins: each built-in equals lm-eval 0.4.13's own helper (imported here as the reference)
on real-shaped documents, and recognise() knows the installed helper files and nothing edited."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import datasets
import lm_eval
import pytest

from evalkit.registry import UnknownName
from evalkit.tasks import builtins
from evalkit.tasks.builtins import BUILTINS, KNOWN, fingerprint, recognise, suggest
from tests.conftest import SHARED_DATA

LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


def lm_eval_module(relative: str) -> ModuleType:
    """lm-eval's helper file, imported by path (the reference implementation)."""
    path = LM_EVAL_TASKS / relative
    spec = importlib.util.spec_from_file_location(f"lm_eval_reference_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_rows(relative: str) -> list[dict[str, Any]]:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data {path} is absent")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def via_dataset(process_docs: Any, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lm-eval's ``process_docs`` as lm-eval calls it: on a ``datasets.Dataset`` (rows of one schema)."""
    datasets.disable_progress_bars()
    return list(process_docs(datasets.Dataset.from_list(docs)).to_list())


# -- the registry -----------------------------------------------------------------------------------------

def test_registry_holds_the_documented_names() -> None:
    assert BUILTINS.names() == sorted(known.name for known in KNOWN)
    for known in KNOWN:
        assert known.name in (builtins.__doc__ or "")
        assert BUILTINS.get(known.name) is known.function
    with pytest.raises(UnknownName, match=r"known: copa\.doc_to_choice"):
        BUILTINS.get("hellaswag.process_doc")
    with pytest.raises(ValueError, match="registered twice"):
        BUILTINS.register("hellaswag.process_docs")(len)


# -- each built-in equals lm-eval's helper ----------------------------------------------------------------

HAND_HELLASWAG = [
    {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering "
     "the window of a car, and a woman wearing winter clothes smiles.", "ctx_b": "then", "split": "val",
     "split_type": "indomain", "label": "3", "source_id": "activitynet~v_-1IBHYS3L-Y",
     "endings": [", the man adds wax to the windshield and cuts it.", ", a person board a ski lift, while two men "
                 "supporting the head of the person wearing winter clothes snow as the we girls sled.",
                 ", the man puts on a christmas coat, knitted with netting.", ", the man continues removing the snow "
                 "on his car."]},
    {"ind": 9, "activity_label": "Baking cookies", "ctx_a": "[header] How to make cookies [title] Preheat the oven. "
     "[step] Set it to 350.", "ctx_b": "", "split": "val", "split_type": "zeroshot", "label": "0",
     "source_id": "wikihow~1", "endings": ["  [substeps] Mix  the dough. ", "Eat [title] them [step] all.",
                                          "Wait.", " Done [header] "]},
]


def test_hellaswag_process_docs_equals_lm_eval() -> None:
    reference = lm_eval_module("hellaswag/utils.py").process_docs
    docs = list(HAND_HELLASWAG)
    for row in shared_rows("hellaswag/hellaswag_val.jsonl")[:300]:  # ctx there is "label: context"
        label, _, ctx = row["ctx"].partition(": ")
        docs.append({"ind": row["idx"], "activity_label": label, "ctx_a": ctx, "ctx_b": "", "split": "val",
                     "split_type": "indomain", "label": str(row["label"]), "source_id": "",
                     "endings": row["endings"]})
    ours = builtins.BUILTINS.get("hellaswag.process_docs")(docs)
    assert ours == via_dataset(reference, docs)
    assert ours[0]["query"].startswith("Removing ice from car: Then, the man") and ours[0]["gold"] == 3
    assert ours[1]["query"] == "Baking cookies: How to make cookies. Preheat the oven. Set it to 350."


def test_truthfulqa_mc2_equals_lm_eval() -> None:
    reference = lm_eval_module("truthfulqa/utils.py").process_results_mc2
    ours = BUILTINS.get("truthfulqa.process_results_mc2")
    rng = random.Random(0)
    docs = shared_rows("truthfulqa/truthfulqa_mc_validation.jsonl")
    # Labels out of order too: lm-eval 0.4.13 picks the true answers by label, not by position.
    docs.append({"mc2_targets": {"choices": ["a", "b", "c", "d"], "labels": [0, 1, 0, 1]}})
    for doc in docs:
        results = [(rng.uniform(-60.0, -0.1), rng.random() < 0.5) for _ in doc["mc2_targets"]["labels"]]
        expected = reference(doc, results)
        got = ours(doc, results)
        assert got == expected and set(got) == {"acc"} and 0.0 <= got["acc"] <= 1.0
    # A hand check: log-likelihoods log(0.2), log(0.3), log(0.5) with labels 1, 0, 1 -> (0.2 + 0.5) / 1.0.
    import math
    doc = {"mc2_targets": {"labels": [1, 0, 1]}}
    assert ours(doc, [(math.log(p), False) for p in (0.2, 0.3, 0.5)])["acc"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="2 results for 3 choices"):
        ours(doc, [(0.0, False)] * 2)


def _generation_rows() -> list[dict[str, Any]]:
    """``truthful_qa`` ``generation``-shaped rows made from the multiple-choice rows (true = label 1)."""
    out = []
    for i, doc in enumerate(shared_rows("truthfulqa/truthfulqa_mc_validation.jsonl")[:60]):
        choices, labels = doc["mc2_targets"]["choices"], doc["mc2_targets"]["labels"]
        true = [c for c, label in zip(choices, labels) if label == 1]
        false = [c for c, label in zip(choices, labels) if label == 0]
        if i % 3 == 0:  # the raw data's quirks: untrimmed, no final period, empty answers
            true = [" " + t.rstrip(".") + "  " for t in true] + ["", "   "]
        if i % 4 == 0:
            true.append("I have no comment.")
        out.append({"type": "Adversarial", "category": "Misc", "question": "  " + doc["question"] + " ",
                    "best_answer": true[0].strip(), "correct_answers": true, "incorrect_answers": false,
                    "source": "https://example.org"})
    return out


def test_truthfulqa_process_docs_gen_equals_lm_eval() -> None:
    reference = lm_eval_module("truthfulqa/utils.py").process_docs_gen
    docs = _generation_rows()
    ours = BUILTINS.get("truthfulqa.process_docs_gen")(docs)
    assert ours == via_dataset(reference, docs)
    assert all(doc["correct_answers"].count("I have no comment.") == 1 for doc in ours)


def test_truthfulqa_process_results_gen_equals_lm_eval() -> None:
    module = lm_eval_module("truthfulqa/utils.py")
    docs = BUILTINS.get("truthfulqa.process_docs_gen")(_generation_rows()[:8])
    completions = [docs[0]["correct_answers"][0], docs[1]["incorrect_answers"][0], "I have no comment.",
                   "The answer is . unclear . really", "", "Nauru", docs[6]["question"], "x " * 40]
    ours = BUILTINS.get("truthfulqa.process_results_gen")
    for doc, completion in zip(docs, completions):
        expected = module.process_results_gen(doc, [completion])
        got = ours(doc, [completion])
        assert list(got) == list(expected)
        assert got == {key: float(value) if isinstance(value, float) else value for key, value in expected.items()}


def test_winogrande_equals_lm_eval() -> None:
    reference = lm_eval_module("winogrande/preprocess_winogrande.py")
    docs = shared_rows("winogrande/dev.jsonl")
    for name in ("doc_to_text", "doc_to_target", "doc_to_choice"):
        ours, theirs = BUILTINS.get(f"winogrande.{name}"), getattr(reference, name)
        for doc in docs:
            assert ours(doc) == theirs(doc)
    doc = docs[0]  # "Sarah was a much better surgeon than Maria so _ always got the easier cases."
    assert BUILTINS.get("winogrande.doc_to_choice")(doc) == [
        "Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"]
    assert BUILTINS.get("winogrande.doc_to_target")(doc) == "always got the easier cases."
    with pytest.raises(ValueError, match="answer must be '1' or '2'"):
        BUILTINS.get("winogrande.doc_to_text")({**doc, "answer": ""})  # the unlabelled test split


MNLI_DOCS = [
    {"premise": "The cat sat on the mat.", "hypothesis": "A cat is sitting", "label": 0, "idx": 0},
    {"premise": "Conceptually cream skimming has two basic dimensions.", "hypothesis": "  Product and geography "
     "are what make cream skimming work. ", "label": 1, "idx": 1},
    {"premise": "  spaced premise  ", "hypothesis": "Ends with a period.", "label": 2, "idx": 2},
]
COPA_DOCS = [
    {"premise": "My body cast a shadow over the grass.", "choice1": "The sun was rising.",
     "choice2": "The grass was cut.", "question": "cause", "idx": 0, "label": 0},
    {"premise": " The woman tolerated her friend's difficult behavior. ", "choice1": "The woman knew her friend "
     "was going through a hard time.", "choice2": "The woman felt that her friend took advantage of her kindness.",
     "question": "effect", "idx": 1, "label": 1},
]


def test_mnli_and_copa_equal_lm_eval() -> None:
    mnli = lm_eval_module("glue/mnli/utils.py")
    for doc in MNLI_DOCS:
        assert BUILTINS.get("mnli.doc_to_text")(doc) == mnli.doc_to_text(doc)
    copa = lm_eval_module("super_glue/copa/utils.py")
    for doc in COPA_DOCS:
        for name in ("doc_to_text", "doc_to_target", "doc_to_choice"):
            assert BUILTINS.get(f"copa.{name}")(doc) == getattr(copa, name)(doc)
    assert BUILTINS.get("copa.doc_to_text")(COPA_DOCS[0]) == "My body cast a shadow over the grass because"


# -- recognise --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("known", KNOWN, ids=lambda known: known.name)
def test_installed_lm_eval_helpers_are_recognised(known: builtins.Known) -> None:
    path = LM_EVAL_TASKS / known.lm_eval_file
    assert fingerprint(path.read_text(encoding="utf-8"), known.lm_eval_function) == known.sha256
    assert recognise(path, known.lm_eval_function) == known.name


def edited_copy(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    source = (LM_EVAL_TASKS / relative).read_text(encoding="utf-8")
    assert source.count(old) == 1, old
    copy = tmp_path / relative.replace("/", "_")
    copy.write_text(source.replace(old, new), encoding="utf-8")
    return copy


@pytest.mark.parametrize(("relative", "function", "old", "new"), [
    # one character in the function itself
    ("winogrande/preprocess_winogrande.py", "doc_to_target", '.index("_") + 1', '.index("_") + 2'),
    ("truthfulqa/utils.py", "process_results_mc2", "labels == 1", "labels == 0"),
    ("super_glue/copa/utils.py", "doc_to_text", '"because"', '"becausE"'),
    # a module-level helper it calls
    ("hellaswag/utils.py", "process_docs", 'text.replace("  ", " ")', 'text.replace("  ", "_")'),
    ("truthfulqa/utils.py", "process_docs_gen", 'answer + "."', 'answer + "!"'),
    ("truthfulqa/utils.py", "process_results_gen", 'tokenize="intl"', 'tokenize="13a"'),
    ("super_glue/copa/utils.py", "doc_to_target", "choice[0].lower()", "choice[0].upper()"),
    # an import it uses
    ("hellaswag/utils.py", "process_docs", "import re\n", "import regex as re\n"),
    # top-level code that runs on import
    ("winogrande/preprocess_winogrande.py", "doc_to_text", "def doc_to_text(doc):",
     "print('hi')\n\n\ndef doc_to_text(doc):"),
    ("truthfulqa/utils.py", "process_results_mc2", "ROUGE_SCORER = None\n", "ROUGE_SCORER = None\nnp.exp = abs\n"),
])
def test_edited_helpers_are_not_recognised(tmp_path: Path, relative: str, function: str, old: str, new: str) -> None:
    assert recognise(edited_copy(tmp_path, relative, old, new), function) is None


def test_a_function_bound_twice_is_not_recognised(tmp_path: Path) -> None:
    copy = tmp_path / "utils.py"
    copy.write_text((LM_EVAL_TASKS / "glue/mnli/utils.py").read_text() + "\n\ndoc_to_text = str\n", encoding="utf-8")
    assert recognise(copy, "doc_to_text") is None


def test_recognition_ignores_the_rest_of_the_file_and_never_imports_it(tmp_path: Path) -> None:
    # An edit to another function leaves this one recognised; an import of a module that does not
    # exist proves the file is not imported (it would raise ModuleNotFoundError).
    copy = edited_copy(tmp_path, "truthfulqa/utils.py", "import datasets\n",
                       "import datasets\nimport evalkit_no_such_module_for_this_test\n")
    copy.write_text(copy.read_text().replace('"rouge1_max": rouge1_max', '"rouge1_max": 0'), encoding="utf-8")
    assert recognise(copy, "process_results_mc2") == "truthfulqa.process_results_mc2"
    assert recognise(copy, "process_results_gen") is None


def test_recognise_refuses_what_is_no_helper(tmp_path: Path) -> None:
    path = LM_EVAL_TASKS / "winogrande/preprocess_winogrande.py"
    assert recognise(path, "no_such_function") is None
    broken = tmp_path / "broken.py"
    broken.write_text(path.read_text() + "\ndef (\n", encoding="utf-8")
    assert recognise(broken, "doc_to_text") is None
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe\x00def doc_to_text(doc): pass")
    assert recognise(binary, "doc_to_text") is None
    with pytest.raises(OSError):
        recognise(tmp_path / "missing.py", "doc_to_text")


def test_suggest() -> None:
    assert suggest("process_results", "process_results_mc2") == "truthfulqa.process_results_mc2"
    assert suggest("process_docs", "process_docs") == "hellaswag.process_docs"
    assert suggest("doc_to_text", "doc_to_text") is None  # winogrande, mnli and copa: no single answer
    assert suggest("doc_to_text", "doc_to_text", Path("/x/winogrande/preprocess_winogrande.py")) == \
        "winogrande.doc_to_text"
    assert suggest("doc_to_target", "doc_to_text") is None
    assert suggest("process_docs", "process_docs", Path("/x/mine/utils.py")) is None
