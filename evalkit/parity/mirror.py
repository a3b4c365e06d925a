"""A ``--data-root`` mirror of the hub data sets the shipped task files name, built from ../shared/data.

    python -m evalkit.parity.mirror SHARED_DATA MIRROR    # then: evalkit run ... --data-root MIRROR

The mirror layout is ``ROOT/<owner>/<name>[/<config>]/<split>.jsonl`` (see :mod:`evalkit.tasks.docs`).
Files of the shared data folder already in the hub's schema (its SOURCES.md says how each was made)
become symbolic links, so nothing is copied; HellaSwag's ``hellaswag_val.jsonl`` keeps only the joined
``ctx``, a form the ``hellaswag.process_docs`` built-in reads. MMLU is converted: the shared folder holds
Hendrycks' CSVs (``mmlu/data/{dev,val,test}/SUBJECT_SPLIT.csv``, no header: question, A, B, C, D,
answer letter), written as ``cais/mmlu/SUBJECT/{dev,validation,test}.jsonl`` with cais/mmlu's fields
(``question``, ``subject``, ``choices``, ``answer`` index) read as its builder reads them (``csv.reader``:
no type guessing, so ``"None"`` or ``"0.50"`` stay text). The shipped task files stay as a user runs
them online; only ``--data-root`` changes.

The training data sets the shipped training configs name (``evalkit train --data-root MIRROR``), each
the hub's schema, each a subset of the hub split it is filed under (see SOURCES.md):

- ``HuggingFaceH4/ultrachat_200k/train_sft.jsonl``: ``sft/ultrachat_small_1000.jsonl`` (a link), 1,000
  conversations of ``train_sft`` with their ``messages`` column only (no ``prompt``/``prompt_id``);
- ``Intel/orca_dpo_pairs/train.jsonl``: ``dpo/orca_dpo_pairs_validation.pcr.jsonl`` (284 pairs curated
  from Intel/orca_dpo_pairs), written in Intel's columns ``system, question, chosen, rejected`` (the file's
  ``prompt`` is Intel's ``question``). It is not argilla/distilabel-intel-orca-dpo-pairs: it has no
  ``status``, ``chosen_score`` or ``in_gsm8k_train`` ratings, so that set is not mirrored;
- ``Anthropic/hh-rlhf/harmless-base/test.jsonl``: ``dpo/hh_rlhf_harmless_base_test.jsonl.gz``, the hub
  repository's own file, decompressed (``{chosen, rejected}`` transcripts; ``data_dir: harmless-base``);
- ``openai/gsm8k/main/train.jsonl``: linked above, for the benchmarks too.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

#: mirror path (under the root) -> file under the shared data folder.
LINKS: dict[str, str] = {
    "allenai/ai2_arc/ARC-Easy/test.jsonl": "arc/arc_easy_test.jsonl",
    "allenai/ai2_arc/ARC-Easy/train.jsonl": "arc/arc_easy_train.jsonl",
    "allenai/ai2_arc/ARC-Challenge/test.jsonl": "arc/arc_challenge_test.jsonl",
    "allenai/ai2_arc/ARC-Challenge/train.jsonl": "arc/arc_challenge_train.jsonl",
    "truthfulqa/truthful_qa/multiple_choice/validation.jsonl": "truthfulqa/truthfulqa_mc_validation.jsonl",
    "baber/piqa/validation.jsonl": "piqa/piqa_validation.jsonl",
    "aps/super_glue/boolq/validation.jsonl": "boolq/boolq_validation.jsonl",
    "allenai/winogrande/winogrande_xl/validation.jsonl": "winogrande/dev.jsonl",
    "nyu-mll/glue/sst2/validation.jsonl": "glue/sst2/validation.jsonl",
    "nyu-mll/glue/rte/validation.jsonl": "glue/rte/validation.jsonl",
    "openai/gsm8k/main/test.jsonl": "gsm8k/test.jsonl",
    "openai/gsm8k/main/train.jsonl": "gsm8k/train.jsonl",
    "Rowan/hellaswag/validation.jsonl": "hellaswag/hellaswag_val.jsonl",
}

#: mirror path -> shared file, training data sets already in the hub's schema (linked).
TRAINING_LINKS: dict[str, str] = {
    "HuggingFaceH4/ultrachat_200k/train_sft.jsonl": "sft/ultrachat_small_1000.jsonl",
}
ORCA_PAIRS = ("Intel/orca_dpo_pairs/train.jsonl", "dpo/orca_dpo_pairs_validation.pcr.jsonl")
HH_RLHF_HARMLESS = ("Anthropic/hh-rlhf/harmless-base/test.jsonl", "dpo/hh_rlhf_harmless_base_test.jsonl.gz")

MMLU_HUB_ID = "cais/mmlu"
#: Hendrycks' folder name -> cais/mmlu's split name.
MMLU_SPLITS = {"dev": "dev", "val": "validation", "test": "test"}
LETTERS = "ABCD"


def read_hendrycks_csv(path: Path, subject: str) -> list[dict[str, Any]]:
    """The rows of one Hendrycks CSV as cais/mmlu documents; a malformed row is a UserError naming ``path:row``."""
    docs = []
    with path.open(newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if len(row) != 6 or row[5] not in LETTERS:
                raise UserError(f"{path}:{number}: expected question,A,B,C,D,answer-letter, got {row[:6]!r}")
            docs.append({"question": row[0], "subject": subject, "choices": row[1:5],
                         "answer": LETTERS.index(row[5])})
    return docs


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_mmlu(hendrycks: Path, root: Path, *, subjects: Sequence[str] | None = None,
               test_rows: int | None = None) -> list[str]:
    """``cais/mmlu/SUBJECT/<split>.jsonl`` under ``root`` from the Hendrycks folder ``hendrycks``
    (``{dev,val,test}/SUBJECT_SPLIT.csv``); ``test_rows`` keeps only the first test rows of each subject
    (every dev row stays: the shots). Returns the subjects written, in name order."""
    tests = sorted((hendrycks / "test").glob("*_test.csv"))
    if not tests:
        raise UserError(f"{hendrycks}: no test/*_test.csv files (Hendrycks' MMLU layout)")
    available = [p.name.removesuffix("_test.csv") for p in tests]
    wanted = list(subjects) if subjects is not None else available
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise UserError(f"{hendrycks}: no test file for subject {missing[0]!r}")
    for subject in sorted(wanted):
        for folder, split in MMLU_SPLITS.items():
            source = hendrycks / folder / f"{subject}_{folder}.csv"
            if not source.is_file():
                continue
            rows = read_hendrycks_csv(source, subject)
            if split == "test" and test_rows is not None:
                rows = rows[:test_rows]
            write_jsonl(root / MMLU_HUB_ID / subject / f"{split}.jsonl", rows)
    return sorted(wanted)


def orca_pairs_as_intel(path: Path) -> list[dict[str, Any]]:
    """The ``{system, prompt, chosen, rejected}`` rows of ``path`` in Intel/orca_dpo_pairs' columns
    (``prompt`` is Intel's ``question``); a row without them is a UserError naming ``path:line``."""
    from evalkit.data import read_json_lines

    rows = []
    for line, row in read_json_lines(path):
        missing = [c for c in ("system", "prompt", "chosen", "rejected") if c not in row]
        if missing:
            raise UserError(f"{path}:{line}: column {missing[0]!r}: missing (expected system, prompt, chosen, "
                            "rejected)")
        rows.append({"system": row["system"], "question": row["prompt"], "chosen": row["chosen"],
                     "rejected": row["rejected"]})
    return rows


def write_gunzipped(source: Path, target: Path) -> Path:
    """``target`` holding ``source``'s decompressed bytes, unchanged (left alone when it exists)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        with gzip.open(source, "rb") as fh:
            target.write_bytes(fh.read())
    return target


def write_training_sets(shared: Path, root: Path) -> list[str]:
    """The training data sets of the module docstring, for the shared files that exist; the mirror paths
    written, in order."""
    written = []
    for target, source in TRAINING_LINKS.items():
        if (shared / source).is_file():
            link(shared / source, root / target)
            written.append(target)
    target, source = ORCA_PAIRS
    if (shared / source).is_file():
        if not (root / target).exists():
            write_jsonl(root / target, orca_pairs_as_intel(shared / source))
        written.append(target)
    target, source = HH_RLHF_HARMLESS
    if (shared / source).is_file():
        write_gunzipped(shared / source, root / target)
        written.append(target)
    return written


def link(source: Path, target: Path) -> None:
    """``target`` as a symbolic link to ``source`` (left alone when it exists)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(source.resolve())


def build_mirror(shared: Path, root: Path) -> Path:
    """Links for every shared file that exists and MMLU converted when its CSVs are there (a partial shared
    folder gives a partial mirror)."""
    for target, source in LINKS.items():
        if (shared / source).is_file():
            link(shared / source, root / target)
    if (shared / "mmlu" / "data" / "test").is_dir():
        write_mmlu(shared / "mmlu" / "data", root)
    write_training_sets(shared, root)
    return root


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m evalkit.parity.mirror SHARED_DATA MIRROR", file=sys.stderr)
        return 2
    shared, root = Path(argv[0]), Path(argv[1])
    if not shared.is_dir():
        print(f"{shared}: no such folder", file=sys.stderr)
        return 2
    try:
        build_mirror(shared, root)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{root}: mirror of {shared} (use --data-root {root} with evalkit run and evalkit train)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
