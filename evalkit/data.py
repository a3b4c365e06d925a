"""Documents from the hub, from local files, or from a local mirror of a hub data set.

Mirrors: with ``--data-root DIR`` (or ``EVALKIT_DATA_ROOT``), a hub id ``owner/name`` is looked up
first as ``DIR/owner/name``, then as ``DIR/name``; the first folder that exists is used instead
of the hub. Inside a mirror folder, a config (``name``) may have its own subfolder, and a split is
a file named after it: ``test.jsonl``, ``validation.parquet``, ``train.csv`` ... Data in another
layout (MMLU's per-subject CSVs) is converted into this one once (:mod:`evalkit.parity.mirror`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import UserError

FILE_BUILDERS = {"json": (".jsonl", ".json"), "csv": (".csv",), "parquet": (".parquet",)}
SUFFIX_BUILDER = {suffix: builder for builder, suffixes in FILE_BUILDERS.items() for suffix in suffixes}


class DatasetSpec(BaseModel):
    """Where documents come from, in the Hugging Face datasets convention (a suite's ``dataset``).

    ``path`` is a hub id (``openai/gsm8k``), a builder for local files (``json``, ``csv``,
    ``parquet`` with ``data_files``), or a local folder laid out as the evaluator documents.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    name: str | None = None
    split: str | None = None
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None


def data_root_from_env(flag: str | Path | None) -> Path | None:
    """The ``--data-root`` flag, else ``EVALKIT_DATA_ROOT`` (as installed at the edge), else None."""
    from evalkit.config import current_environment  # read once at the CLI edge

    value = flag or current_environment().data_root
    return Path(value).expanduser() if value else None


def find_mirror(hub_id: str, data_root: Path | None) -> Path | None:
    """The local mirror folder of ``hub_id`` under ``data_root``, if there is one."""
    if data_root is None:
        return None
    candidates = [data_root / hub_id, data_root / hub_id.split("/")[-1]]
    return next((c for c in candidates if c.is_dir()), None)


def local_folder(spec: DatasetSpec, base_dir: Path, data_root: Path | None) -> Path | None:
    """The folder holding ``spec``'s data locally: a folder path, or a hub id's mirror."""
    if spec.path in FILE_BUILDERS:
        return None
    direct = (base_dir / spec.path).expanduser()
    if direct.is_dir():
        return direct
    return find_mirror(spec.path, data_root)


def load_records(spec: DatasetSpec, base_dir: Path, data_root: Path | None) -> list[dict[str, Any]]:
    """All rows of the split that ``spec`` names, as dicts, in file order."""
    if spec.path in FILE_BUILDERS:
        return _load_files(spec.path, _resolve_data_files(spec, base_dir), spec.split)
    folder = local_folder(spec, base_dir, data_root)
    if folder is not None:
        split_file = find_split_file(folder, spec)
        return _load_files(SUFFIX_BUILDER[split_file.suffix], str(split_file), None)
    return _load_hub(spec)


def find_split_file(folder: Path, spec: DatasetSpec) -> Path:
    """``folder[/name]/<split>.<jsonl|json|csv|parquet>``; with no split, the only data file there."""
    if spec.name and (folder / spec.name).is_dir():
        folder = folder / spec.name
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIX_BUILDER and p.is_file())
    if spec.split:
        matches = [p for p in files if p.stem == spec.split]
        if matches:
            return matches[0]
        raise UserError(f"{folder}: no file for split {spec.split!r} (expected {spec.split}.jsonl, .json, "
                        f".csv or .parquet; found: {', '.join(p.name for p in files) or 'nothing'})")
    if len(files) == 1:
        return files[0]
    raise UserError(f"{folder}: dataset.split is needed to choose among {', '.join(p.name for p in files)}")


def _resolve_data_files(spec: DatasetSpec, base_dir: Path) -> Any:
    if spec.data_files is None:
        raise UserError(f"dataset {spec.path!r}: data_files is required for local {spec.path} files")

    def fix(p: str) -> str:
        full = (base_dir / p).expanduser()
        if not any(ch in p for ch in "*?[") and not full.exists():
            raise UserError(f"dataset.data_files: no such file {str(full)!r}")
        return str(full)

    files = spec.data_files
    if isinstance(files, str):
        return fix(files)
    if isinstance(files, list):
        return [fix(f) for f in files]
    return {split: fix(f) if isinstance(f, str) else [fix(x) for x in f] for split, f in files.items()}


def _load_files(builder: str, data_files: Any, split: str | None) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    if isinstance(data_files, dict):
        split = split or next(iter(data_files))
    try:
        ds = datasets.load_dataset(builder, data_files=data_files, split=split or "train")
    except ValueError as exc:  # e.g. "Unknown split": the files exist but do not hold that split
        raise UserError(f"dataset {builder} {data_files}: {str(exc).splitlines()[0]}") from None
    return [dict(row) for row in ds]


def _load_hub(spec: DatasetSpec) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(spec.path, spec.name, split=spec.split or "train", revision=spec.revision)
    except Exception as exc:  # noqa: BLE001 -- the hub client raises many types; all mean "not here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"dataset {spec.path!r}: not a local folder or mirror, and loading it from the hub failed "
            f"({first[:200]}); offline, point --data-root at a local mirror (see README)") from None
    return [dict(row) for row in ds]


def read_json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a ``.jsonl`` (or ``.jsonl.gz``) file.

    Any unreadable file or line is one UserError naming ``path:line``."""
    import gzip
    import json

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"{path}: cannot read it ({exc})") from None
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{lineno}: not a JSON object ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append((lineno, row))
    return rows
