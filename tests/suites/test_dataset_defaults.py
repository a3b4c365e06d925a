"""A dataset given as a local folder without a split reads the evaluator's default split, as the hub form does."""

from __future__ import annotations

from pathlib import Path

from evalkit.evaluator import TaskContext
from evalkit.suites import load_suite
from tests.conftest import write_jsonl


def _gsm8k_folder(root: Path) -> Path:
    folder = root / "gsm"
    write_jsonl(folder / "train.jsonl", [{"question": f"train {i}?", "answer": f"#### {i}"} for i in range(3)])
    write_jsonl(folder / "test.jsonl", [{"question": "test?", "answer": "#### 7"}])
    return folder


def _load(suite: Path) -> list:
    task = load_suite(suite).tasks[0]
    ctx = TaskContext(task.name, 0, task.generation, task.base_dir)
    assert task.dataset is not None
    return [task.dataset, task.evaluator(task.settings, ctx).load_docs(task.dataset)]


def test_folder_without_split_reads_the_default_split(tmp_path: Path) -> None:
    _gsm8k_folder(tmp_path)
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n  - name: g\n    evaluator: gsm8k\n    dataset: {path: gsm}\n")
    dataset, docs = _load(suite)
    assert dataset.split == "test"  # gsm8k's default_dataset: openai/gsm8k, main, test
    assert docs == [{"question": "test?", "answer": "#### 7"}]


def test_folder_with_a_split_keeps_it(tmp_path: Path) -> None:
    _gsm8k_folder(tmp_path)
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n  - name: g\n    evaluator: gsm8k\n    dataset: {path: gsm, split: train}\n")
    dataset, docs = _load(suite)
    assert dataset.split == "train" and len(docs) == 3


def test_hub_form_and_local_files_are_left_as_written(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "t.jsonl", [{"question": "q?", "answer": "#### 1"}])
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n  - name: g\n    evaluator: gsm8k\n"
                     "  - name: h\n    evaluator: gsm8k\n    dataset: {path: json, data_files: t.jsonl}\n")
    default, files = (t.dataset for t in load_suite(suite).tasks)
    assert default is not None and (default.path, default.split) == ("openai/gsm8k", "test")
    assert files is not None and files.split is None  # local files hold one "train" split
