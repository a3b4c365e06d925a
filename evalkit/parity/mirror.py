"""A ``--data-root`` mirror of the hub data sets the shipped task files name, built from ../shared/data.

The mirror layout is ``ROOT/<owner>/<name>[/<config>]/<split>.jsonl`` (see :mod:`evalkit.tasks.docs`);
every file here is a symbolic link to a file of the shared data folder in the hub's schema (its
SOURCES.md says how each was made), so nothing is copied. Tests and benchmarks point ``--data-root``
(or the task's ``ctx.data_root``) at it; the shipped task files stay as a user runs them online.
"""

from __future__ import annotations

from pathlib import Path

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
}


def build_mirror(shared: Path, root: Path) -> Path:
    """Links for every shared file that exists (a partial shared folder gives a partial mirror)."""
    for target, source in LINKS.items():
        src = shared / source
        if not src.is_file():
            continue
        dst = root / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.symlink_to(src.resolve())
    return root
