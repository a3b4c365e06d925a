"""The output folder of a training run: start fresh, resume from its last complete checkpoint, or refuse.

transformers writes a checkpoint's files one by one and ``trainer_state.json`` last, so a run killed
while saving leaves a folder without a readable state: such a folder is skipped, and the run resumes
from the checkpoint before it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from evalkit.errors import UserError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def complete_checkpoints(output: Path) -> list[Path]:
    """The ``checkpoint-N`` folders whose trainer state was fully written, oldest first."""
    if not output.is_dir():
        return []
    found = []
    for child in output.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and _readable_state(child / "trainer_state.json"):
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def checkpoint_to_resume(output: Path, resume: bool | None) -> Path | None:
    """The checkpoint to resume from (None: start fresh), or a one-line UserError.

    ``resume`` None resumes when the folder holds a checkpoint and starts fresh in an empty or absent
    folder; True insists on a checkpoint; False insists on an empty folder. A non-empty folder is never
    written over.
    """
    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        if resume:
            raise UserError(f"--resume: {output} holds no checkpoint to resume from")
        return None
    if not output.is_dir():
        raise UserError(f"--output {output} is a file; give a folder")
    if resume is False:
        raise UserError(f"--no-resume: {output} is not empty; remove it or choose another --output")
    checkpoints = complete_checkpoints(output)
    if not checkpoints:
        raise UserError(f"--output {output} is not empty and holds no complete checkpoint-N to resume from; "
                        "remove it or choose another --output")
    return checkpoints[-1]


def _readable_state(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True
