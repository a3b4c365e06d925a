"""Small slices of the shared benchmark data, and lm-eval task configs that read them.

Every lm-eval config written here ``include``s lm-eval's own task file (``mmlu_<subject>.yaml``,
``hellaswag.yaml``, ``gsm8k.yaml`` of the installed lm_eval) and changes only the task name and
the data source (local json files instead of the hub), so prompts, shots, filters and metrics
are lm-eval's. The MMLU groups repeat ``_mmlu.yaml``/``_mmlu_stem.yaml``: acc, weight_by_size.

The slices are written to a temporary folder, never into the repository:

- MMLU: a folder in Hendrycks' layout (``data/{dev,test}/S_{dev,test}.csv``: every dev row, the
  first test rows) for evalkit, and the same rows with cais/mmlu's fields (as its builder reads
  the CSVs: ``csv.reader``) for lm-eval;
- HellaSwag: the first rows of the klosax-derived file as they are (``ctx`` only) for evalkit,
  and in the hub's shape (``activity_label``/``ctx_a``/``ctx_b``) for lm-eval's ``process_docs``;
  plus rows rebuilt in the hub's shape with a lower-case ``ctx_b`` and ``[title]``/``[step]``
  markers, read by both, to exercise capitalisation and ``preprocess``;
- GSM8K: the first test rows and the whole train split (the pool the shots are drawn from).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MMLU_SUBJECTS = {"abstract_algebra": "stem", "computer_security": "stem", "management": "other"}
LETTERS = "ABCD"


def lm_eval_tasks_dir() -> Path:
    from evalkit.parity import require_lm_eval

    lm_eval = require_lm_eval()

    return Path(str(lm_eval.__file__)).parent / "tasks"


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


@dataclass
class Slices:
    root: Path
    mmlu_folder: Path  # Hendrycks layout
    mmlu_hub: dict[str, dict[str, Path]]  # subject -> split -> cais/mmlu-shaped jsonl
    hellaswag_folder: Path  # holds hellaswag_val.jsonl (ctx only)
    hellaswag_as_hub: Path  # the same rows in the hub's shape, for lm-eval
    hellaswag_hub: Path  # rows rebuilt in the hub's shape, read by both
    gsm8k_folder: Path  # test.jsonl (slice) and train.jsonl (all)


def make_slices(shared: Path, root: Path, mmlu_rows: int | None = 10, hellaswag_rows: int = 20,
                hellaswag_hub_rows: int = 10, gsm8k_rows: int = 8,
                mmlu_subjects: dict[str, str] | None = None) -> Slices:
    mmlu_folder = root / "mmlu"
    mmlu_hub: dict[str, dict[str, Path]] = {}
    for subject in mmlu_subjects or MMLU_SUBJECTS:
        for split, n in (("dev", None), ("test", mmlu_rows)):
            csv_rows = _read_csv(shared / "mmlu" / "data" / split / f"{subject}_{split}.csv")[:n]
            out = mmlu_folder / "data" / split / f"{subject}_{split}.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(csv_rows)
            hub_rows = [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": LETTERS.index(r[5])}
                        for r in csv_rows]
            mmlu_hub.setdefault(subject, {})[split] = _write_jsonl(root / "mmlu_hub" / f"{subject}_{split}.jsonl",
                                                                    hub_rows)

    lines = (shared / "hellaswag" / "hellaswag_val.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[: hellaswag_rows + hellaswag_hub_rows]]
    local, rebuilt = rows[:hellaswag_rows], rows[hellaswag_rows:]
    hellaswag_folder = root / "hellaswag"
    _write_jsonl(hellaswag_folder / "hellaswag_val.jsonl", local)
    as_hub = []
    for r in local:
        label, _, ctx_a = r["ctx"].partition(": ")
        # lm-eval builds label + ": " + ctx_a + " " + ctx_b.capitalize() and strips: ctx_b = "" gives ctx back.
        as_hub.append({"activity_label": label, "ctx_a": ctx_a, "ctx_b": "", "endings": r["endings"],
                       "label": str(r["label"])})
    hub = []
    for i, r in enumerate(rebuilt):
        label, _, ctx = r["ctx"].partition(": ")
        words = ctx.split(" ")
        cut = max(1, len(words) - 3)
        ctx_a, ctx_b = " ".join(words[:cut]), " ".join(words[cut:]).lower()
        endings = list(r["endings"])
        if i % 2 == 0:  # WikiHow-style markers, which preprocess() rewrites or removes
            ctx_a = f"[header] {ctx_a} [title]  {ctx_a}"
            endings[0] = f"[step] {endings[0]} [title] {endings[0]}"
        hub.append({"ind": i, "activity_label": label, "ctx_a": ctx_a, "ctx_b": ctx_b,
                    "ctx": ctx_a + " " + ctx_b, "endings": endings, "label": str(r["label"])})
    hellaswag_as_hub = _write_jsonl(root / "hellaswag_as_hub" / "validation.jsonl", as_hub)
    hellaswag_hub = _write_jsonl(root / "hellaswag_hub" / "validation.jsonl", hub)

    gsm8k_folder = root / "gsm8k"
    gsm8k_folder.mkdir(parents=True, exist_ok=True)
    test_lines = (shared / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (gsm8k_folder / "test.jsonl").write_text("".join(test_lines[:gsm8k_rows]), encoding="utf-8")
    (gsm8k_folder / "train.jsonl").symlink_to(shared / "gsm8k" / "train.jsonl")
    return Slices(root, mmlu_folder, mmlu_hub, hellaswag_folder, hellaswag_as_hub, hellaswag_hub, gsm8k_folder)


def _dump(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write_mmlu_tasks(folder: Path, prefix: str, slices: Slices, num_fewshot: int,
                     subjects: dict[str, str] | None = None) -> None:
    """``prefix`` (group) -> ``prefix_<category>`` (groups) -> ``prefix_<subject>`` (lm-eval's subject tasks)."""
    tasks = lm_eval_tasks_dir() / "mmlu" / "default"
    by_category: dict[str, list[str]] = {}
    for subject, category in (subjects or MMLU_SUBJECTS).items():
        name = f"{prefix}_{subject}"
        by_category.setdefault(category, []).append(name)
        files = slices.mmlu_hub[subject]
        _dump(folder / f"{name}.yaml", {
            "include": str(tasks / f"mmlu_{subject}.yaml"), "task": name, "tag": [],
            "dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": {"test": str(files["test"]), "dev": str(files["dev"])}},
            "num_fewshot": num_fewshot})
    for category, names in by_category.items():
        _dump(folder / f"{prefix}_{category}.yaml", {
            "group": f"{prefix}_{category}", "task": names,
            "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}]})
    _dump(folder / f"{prefix}.yaml", {
        "group": prefix, "task": [f"{prefix}_{c}" for c in by_category],
        "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}]})


def write_hellaswag_task(folder: Path, name: str, data_file: Path) -> None:
    _dump(folder / f"{name}.yaml", {
        "include": str(lm_eval_tasks_dir() / "hellaswag" / "hellaswag.yaml"), "task": name, "tag": [],
        "dataset_path": "json", "dataset_name": None,
        "dataset_kwargs": {"data_files": {"validation": str(data_file)}},
        "training_split": None})  # there is no train file; 0-shot never samples from it


def write_gsm8k_task(folder: Path, name: str, slices: Slices) -> None:
    _dump(folder / f"{name}.yaml", {
        "include": str(lm_eval_tasks_dir() / "gsm8k" / "gsm8k.yaml"), "task": name, "tag": [],
        "dataset_path": "json", "dataset_name": None,
        "dataset_kwargs": {"data_files": {"train": str(slices.gsm8k_folder / "train.jsonl"),
                                          "test": str(slices.gsm8k_folder / "test.jsonl")}}})
