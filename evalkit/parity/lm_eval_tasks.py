"""Small slices of the shared benchmark data as ``--data-root`` mirrors, and lm-eval reading the same mirrors.

lm-eval runs its own task files unchanged (``tasks/mmlu/default``, ``hellaswag``, ``gsm8k`` of the
installed lm_eval): only ``datasets.load_dataset`` answers a hub id from a mirror folder
(:func:`lm_eval_reads_mirror`), so prompts, shots, filters, metrics and groups are lm-eval's. evalkit
runs its shipped task files (``suites/tasks``) on the same mirror through ``--data-root``.

The slices are written to a temporary folder, never into the repository:

- ``hub``: MMLU, every subject with all its dev rows and the first test rows (converted from the
  Hendrycks CSVs, :func:`evalkit.parity.mirror.write_mmlu`); HellaSwag rows rebuilt in the hub's shape
  (``activity_label``/``ctx_a``/``ctx_b``) with a lower-case ``ctx_b`` and ``[title]``/``[step]``
  markers, to exercise capitalisation and ``preprocess`` (validation, and other rows as train); GSM8K's
  first test rows and its whole train split (the pool the shots are drawn from);
- ``local``: the first HellaSwag rows of the klosax-derived file as they are (``ctx`` only), which
  evalkit reads, and ``local_as_hub``: the same rows in the hub's shape, for lm-eval's ``process_docs``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.parity.mirror import link, write_jsonl, write_mmlu

HELLASWAG = "Rowan/hellaswag"
GSM8K = "openai/gsm8k/main"


def lm_eval_tasks_dir() -> Path:
    """The ``tasks`` folder of the installed lm_eval (its own task files)."""
    from evalkit.parity import require_lm_eval

    return Path(str(require_lm_eval().__file__)).parent / "tasks"


@dataclass(frozen=True)
class Slices:
    """Three ``--data-root`` mirrors (see the module docstring) and what they hold."""

    hub: Path
    local: Path
    local_as_hub: Path
    mmlu_subjects: tuple[str, ...]


def _hellaswag_rows(shared: Path, start: int, n: int) -> list[dict[str, Any]]:
    lines = (shared / "hellaswag" / "hellaswag_val.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[start: start + n]]


def as_hub(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ctx-only rows in the hub's shape with ``ctx_b = ""``: lm-eval then builds ``label + ": " + ctx_a + " "``,
    which its ``preprocess`` strips back to the row's ``ctx``."""
    out = []
    for r in rows:
        label, _, ctx_a = r["ctx"].partition(": ")
        out.append({"activity_label": label, "ctx_a": ctx_a, "ctx_b": "", "endings": r["endings"],
                    "label": str(r["label"])})
    return out


def rebuilt_hub(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows rebuilt in the hub's shape: the last words of the context as a lower-case ``ctx_b`` (which lm-eval
    capitalises), and WikiHow markers in every other row (which ``preprocess`` rewrites or removes)."""
    out = []
    for i, r in enumerate(rows):
        label, _, ctx = r["ctx"].partition(": ")
        words = ctx.split(" ")
        cut = max(1, len(words) - 3)
        ctx_a, ctx_b = " ".join(words[:cut]), " ".join(words[cut:]).lower()
        endings = list(r["endings"])
        if i % 2 == 0:
            ctx_a = f"[header] {ctx_a} [title]  {ctx_a}"
            endings[0] = f"[step] {endings[0]} [title] {endings[0]}"
        out.append({"ind": i, "activity_label": label, "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": ctx_a + " " + ctx_b,
                    "endings": endings, "label": str(r["label"])})
    return out


def make_slices(shared: Path, root: Path, *, mmlu_rows: int | None = 3, mmlu_subjects: list[str] | None = None,
                hellaswag_rows: int = 10, hellaswag_train_rows: int = 20, gsm8k_rows: int = 8) -> Slices:
    hub, local, local_as_hub = root / "hub", root / "local", root / "local_as_hub"
    subjects = write_mmlu(shared / "mmlu" / "data", hub, subjects=mmlu_subjects, test_rows=mmlu_rows)

    local_rows = _hellaswag_rows(shared, 0, hellaswag_rows)
    rebuilt = rebuilt_hub(_hellaswag_rows(shared, hellaswag_rows, hellaswag_rows + hellaswag_train_rows))
    write_jsonl(hub / HELLASWAG / "validation.jsonl", rebuilt[:hellaswag_rows])
    write_jsonl(hub / HELLASWAG / "train.jsonl", rebuilt[hellaswag_rows:])
    # lm-eval reads the train split of hellaswag.yaml even at 0-shot: both local mirrors have one.
    write_jsonl(local / HELLASWAG / "validation.jsonl", local_rows)
    write_jsonl(local / HELLASWAG / "train.jsonl", local_rows)
    write_jsonl(local_as_hub / HELLASWAG / "validation.jsonl", as_hub(local_rows))
    write_jsonl(local_as_hub / HELLASWAG / "train.jsonl", as_hub(local_rows))

    test_lines = (shared / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (hub / GSM8K).mkdir(parents=True, exist_ok=True)
    (hub / GSM8K / "test.jsonl").write_text("".join(test_lines[:gsm8k_rows]), encoding="utf-8")
    link(shared / "gsm8k" / "train.jsonl", hub / GSM8K / "train.jsonl")
    return Slices(hub, local, local_as_hub, tuple(subjects))


@contextlib.contextmanager
def lm_eval_reads_mirror(root: Path) -> Iterator[None]:
    """Within the block, ``datasets.load_dataset(hub_id, config)`` loads the split files of the mirror
    folder ``root/<hub_id>[/<config>]`` (every split there) with the json builder; ids without a mirror
    folder load as usual. lm-eval's ``ConfigurableTask.download`` calls exactly this."""
    import datasets

    from evalkit.data import find_mirror

    original = datasets.load_dataset

    def load(path: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        folder = find_mirror(path, root)
        if folder is None:
            return original(path, name, *args, **kwargs)
        if name and (folder / name).is_dir():
            folder = folder / name
        files = {p.stem: str(p) for p in sorted(folder.glob("*.jsonl"))}
        return original("json", data_files=files)

    datasets.load_dataset = load
    try:
        yield
    finally:
        datasets.load_dataset = original
