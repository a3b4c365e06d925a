"""Training rows: load, filter, shuffle, select, map columns, split; check the format fits the method.

Rows come out in one of TRL's dataset formats, with only that format's columns (a stray ``messages``
column beside ``prompt``/``chosen``/``rejected`` would make TRL read the rows another way):

- ``messages``: a conversation, a list of ``{role, content}`` (SFT);
- ``prompt_completion``: ``prompt`` and ``completion``, both text or both message lists (SFT);
- ``text``: plain text (SFT);
- ``preference``: ``prompt``, ``chosen``, ``rejected`` (DPO, reward). Text or message lists; an optional
  ``system`` text becomes the system turn of a conversational prompt. When any row is conversational,
  all are made so (TRL wants one kind per dataset); chosen/rejected conversations that repeat the
  prompt (ultrafeedback's layout) keep only what follows it. For ``method: reward`` an optional
  numeric ``margin`` column is kept (TRL's RewardTrainer subtracts it inside the loss);
- ``prompt``: ``prompt`` only, text or a message list, with an optional ``system`` (grpo, rloo: the
  trainer generates the completions). Preference rows fit it too (their prompts are kept).

Order of preparation: ``filter`` (on the file's own column names) → ``skip`` → ``shuffle_seed`` →
``select`` → ``columns`` mapping and checks → ``eval_fraction``. ``skip`` comes before the shuffle so the
rows it leaves out are the file's first N, which an evaluation (a suite task's ``limit: N``) can read.
Every problem is a :class:`UserError` naming the file and row (the line, for JSON Lines) and the column,
raised before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.data import FILE_BUILDERS, SUFFIX_BUILDER, DatasetSpec, find_split_file, local_folder, read_json_lines
from evalkit.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from evalkit.harness.config import FieldCondition, TrainConfig, TrainDataset

RowFormat = Literal["messages", "prompt_completion", "text", "preference", "prompt"]

FORMAT_COLUMNS: dict[RowFormat, tuple[str, ...]] = {
    "messages": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
    "preference": ("prompt", "chosen", "rejected"),
    "prompt": ("prompt",),
}
# Tried in this order: a row with messages and prompt (ultrachat_200k's layout) is a conversation.
METHOD_FORMATS: dict[str, tuple[RowFormat, ...]] = {
    "sft": ("messages", "prompt_completion", "text"),
    "dpo": ("preference",),
    "reward": ("preference",),
    "grpo": ("prompt",),
    "rloo": ("prompt",),
}
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PreparedRows:
    """Rows in one of TRL's dataset formats, ready for its trainers."""

    train: Dataset
    eval: Dataset | None
    format: RowFormat
    fingerprint: str  # sha256 over the source files (or hub id + revision) and the preparation settings
    rows: int  # training rows after filter/select
    conversational: bool = False  # rows hold message lists (rendered with the chat template), not text
    read_rows: int = 0  # rows of the training split as read (before filter and select)
    filtered_out: int = 0  # of those, the rows dataset.filter dropped


@dataclass(frozen=True)
class _Row:
    where: str  # "data.jsonl:3" or "org/set[train] row 3": how an error names the row
    data: dict[str, Any]


def prepare_rows(config: TrainConfig, base_dir: Path, data_root: Path | None = None) -> PreparedRows:
    """Rows for ``config`` (paths relative to ``base_dir``; hub ids read from the mirror under ``data_root``,
    else ``EVALKIT_DATA_ROOT``, when it has them); a wrong column or a format that does not fit the method
    raises :class:`~evalkit.errors.UserError` naming the file, the row and the column, before any model
    loads."""
    spec = config.dataset
    rows, source_digest = _load(spec, spec.split, base_dir, data_root)
    read_rows = len(rows)
    rows = _kept(rows, spec.filter)
    filtered_out = read_rows - len(rows)
    if spec.skip is not None:
        rows = rows[spec.skip:]
    if spec.shuffle_seed is not None:
        random.Random(spec.shuffle_seed).shuffle(rows)
    if spec.select is not None:
        rows = rows[:spec.select]
    if not rows:
        raise UserError(f"dataset {spec.path!r}: no rows left to train on (after filter, skip and select)")
    fmt, train = _formatted(rows, config.method, spec.columns)
    eval_rows: list[_Row] | None = None
    if spec.eval_split is not None:
        held, eval_digest = _load(spec, spec.eval_split, base_dir, data_root)
        source_digest += eval_digest
        eval_rows = _formatted(_kept(held, spec.filter), config.method, spec.columns, fmt)[1]
    elif spec.eval_fraction is not None:
        train, eval_rows = _split(train, spec.eval_fraction, spec.shuffle_seed if spec.shuffle_seed is not None
                                  else config.seed, spec.path)
    conversational = _make_uniform(train + (eval_rows or []), fmt)
    if config.trainer.get("assistant_only_loss") and not conversational:
        # TRL would refuse it only after the model has loaded.
        these = "these rows are plain text" if fmt == "text" else f"these {fmt} rows are text, not message lists"
        raise config.error_at("trainer.assistant_only_loss", "needs conversational rows (messages, or prompt/"
                                                             f"completion as message lists); {these}")
    settings = spec.model_dump(mode="json", exclude={"path", "name", "data_dir", "data_files", "revision"})
    fingerprint = hashlib.sha256(json.dumps({"source": source_digest, "method": config.method, **settings},
                                            sort_keys=True).encode()).hexdigest()
    return PreparedRows(_dataset(train), _dataset(eval_rows) if eval_rows is not None else None, fmt,
                        fingerprint, len(train), conversational, read_rows, filtered_out)


def _dataset(rows: list[_Row]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list([row.data for row in rows])


# --- loading ----------------------------------------------------------------------------------------------

def _load(spec: TrainDataset, split: str, base_dir: Path, data_root: Path | None) -> tuple[list[_Row], str]:
    """The rows of ``split`` and a digest of where they came from (file bytes, or hub id and revision)."""
    direct = (base_dir / spec.path).expanduser()
    splitless = direct.is_file() or (spec.path in FILE_BUILDERS and not isinstance(spec.data_files, dict))
    if splitless and split != spec.split:
        # One file (or a list of files) holds one split: loading it again as the eval split would train on it.
        raise UserError(f"dataset.eval_split: {spec.path!r} has no splits (one file or a list of files); use "
                        "eval_fraction, or data_files by split ({train: ..., test: ...})")
    if direct.is_file():
        return _load_file(direct), _file_digest([direct])
    if spec.path in FILE_BUILDERS:
        files = _data_files(spec, split, base_dir)
        rows = [row for f in files for row in _load_file(f, spec.path)]
        return rows, _file_digest(files)
    hub = DatasetSpec(path=spec.path, name=spec.name, split=split, revision=spec.revision)
    folder = mirror_folder(spec, base_dir, data_root)
    if folder is not None:
        # A data_dir is the mirror's subfolder, as a config name is (Anthropic/hh-rlhf/harmless-base/).
        split_file = find_split_file(folder, hub.model_copy(update={"name": spec.name or spec.data_dir}))
        return _load_file(split_file), _file_digest([split_file])
    return _load_hub(hub, spec.data_dir)


def mirror_folder(spec: TrainDataset, base_dir: Path, data_root: Path | None) -> Path | None:
    """The local folder of a hub dataset (a folder path, or its mirror under ``data_root`` else
    ``EVALKIT_DATA_ROOT``); None when only the hub has it."""
    from evalkit.data import data_root_from_env

    hub = DatasetSpec(path=spec.path, name=spec.name, split=spec.split, revision=spec.revision)
    return local_folder(hub, base_dir, data_root_from_env(data_root))


def is_hub_dataset(spec: TrainDataset, base_dir: Path) -> bool:
    """Whether ``spec.path`` names a hub dataset (not a local file, folder or file builder)."""
    return spec.path not in FILE_BUILDERS and not (base_dir / spec.path).expanduser().exists()


def _data_files(spec: TrainDataset, split: str, base_dir: Path) -> list[Path]:
    if spec.data_files is None:
        raise UserError(f"dataset {spec.path!r}: data_files is required for local {spec.path} files")
    files = spec.data_files
    if isinstance(files, dict):
        if split not in files:
            raise UserError(f"dataset.data_files: no files for split {split!r} (it has: {', '.join(files)})")
        files = files[split]
    names = [files] if isinstance(files, str) else list(files)
    found: list[Path] = []
    for name in names:
        if any(ch in name for ch in "*?["):
            matches = sorted(base_dir.glob(name))
            if not matches:
                raise UserError(f"dataset.data_files: no file matches {str(base_dir / name)!r}")
            found.extend(matches)
        elif (base_dir / name).expanduser().is_file():
            found.append((base_dir / name).expanduser())
        else:
            raise UserError(f"dataset.data_files: no such file {str(base_dir / name)!r}")
    return found


def _load_file(path: Path, builder: str | None = None) -> list[_Row]:
    """Rows of one local file: JSON Lines by line number (as an editor shows them), others by row."""
    name = path.name.removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix == ".jsonl" or (builder == "json" and suffix != ".json"):
        return [_Row(f"{path}:{line}", row) for line, row in read_json_lines(path)]
    kind = builder or SUFFIX_BUILDER.get(suffix)
    if kind is None:
        raise UserError(f"{path}: not a data file evalkit reads (.jsonl, .json, .csv, .parquet)")
    import datasets

    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as exc:  # noqa: BLE001 -- the builders raise many types for an unreadable file
        raise UserError(f"{path}: cannot read it as {kind} ({str(exc).strip().splitlines()[0][:200]})") from None
    return [_Row(f"{path} row {i}", dict(row)) for i, row in enumerate(ds, start=1)]


def _load_hub(spec: DatasetSpec, data_dir: str | None = None) -> tuple[list[_Row], str]:
    import datasets

    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(spec.path, spec.name, split=spec.split, revision=spec.revision, data_dir=data_dir)
    except Exception as exc:  # noqa: BLE001 -- the hub client raises many types; all mean "not here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"dataset {spec.path!r}: not a local file, folder or mirror, and loading it from the hub "
                        f"failed ({first[:200]}); offline, point --data-root at a local mirror (see README)") from None
    label = f"{spec.path}[{spec.split}]"
    # The datasets fingerprint follows the cached files, so it changes when the hub data does.
    source = f"{spec.path}|{spec.name}|{data_dir}|{spec.revision}|{ds._fingerprint}"
    digest = hashlib.sha256(source.encode()).hexdigest()
    return [_Row(f"{label} row {i}", dict(row)) for i, row in enumerate(ds, start=1)], digest


def _file_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# --- filter -----------------------------------------------------------------------------------------------

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
}


def _kept(rows: list[_Row], conditions: list[FieldCondition]) -> list[_Row]:
    return [row for row in rows if all(_holds(row, cond) for cond in conditions)]


def _holds(row: _Row, cond: FieldCondition) -> bool:
    left = _column(row, cond.column, "filter")
    right = _column(row, cond.other_column, "filter") if cond.other_column is not None else cond.value
    try:
        return bool(_OPS[cond.op](left, right))
    except TypeError:
        raise UserError(f"{row.where}: column {cond.column!r}: filter {cond.op} {right!r} cannot compare "
                        f"{left!r} with it") from None


def _column(row: _Row, name: str, why: str) -> Any:
    if name not in row.data:
        raise UserError(f"{row.where}: column {name!r}: missing ({why} needs it; the file has: "
                        f"{', '.join(row.data)})")
    return row.data[name]


# --- formats ----------------------------------------------------------------------------------------------

def _formatted(rows: list[_Row], method: str, columns: dict[str, str],
               fmt: RowFormat | None = None) -> tuple[RowFormat, list[_Row]]:
    """The rows in TRL's columns for ``method`` (the format of the first row, or ``fmt``), checked."""
    out: list[_Row] = []
    for row in rows:
        mapped = _mapped(row, columns)
        if fmt is None:
            fmt = _detect(mapped, method, row)
        needed = FORMAT_COLUMNS[fmt]
        for col in needed:
            if col not in mapped.data:
                raise UserError(f"{row.where}: column {col!r}: missing (rows are in the {fmt} format, which "
                                f"needs {', '.join(needed)}; this row has: {', '.join(mapped.data)})")
        keep = needed + tuple(col for col in _optional_columns(fmt, method) if col in mapped.data)
        out.append(_Row(row.where, _checked({col: mapped.data[col] for col in keep}, fmt, row.where)))
    assert fmt is not None  # rows is never empty here
    return fmt, out


def _optional_columns(fmt: RowFormat, method: str) -> tuple[str, ...]:
    """Columns a format keeps when a row has them: the system turn; for reward pairs, TRL's margin."""
    if fmt == "preference":
        return ("system", "margin") if method == "reward" else ("system",)
    return ("system",) if fmt == "prompt" else ()


def _mapped(row: _Row, columns: dict[str, str]) -> _Row:
    data = dict(row.data)
    for src, dst in columns.items():
        if src not in row.data:
            raise UserError(f"{row.where}: column {src!r}: missing (dataset.columns maps it to {dst!r}; the file "
                            f"has: {', '.join(row.data)})")
        # A file column renamed onto another file column replaces it (the user chose which one counts).
        data[dst] = data.pop(src) if src in data else row.data[src]
    return _Row(row.where, data)


def _detect(mapped: _Row, method: str, row: _Row) -> RowFormat:
    for fmt in METHOD_FORMATS[method]:
        if all(col in mapped.data for col in FORMAT_COLUMNS[fmt]):
            return fmt
    wanted = " or ".join(", ".join(FORMAT_COLUMNS[f]) for f in METHOD_FORMATS[method])
    others = [f for f, cols in FORMAT_COLUMNS.items()
              if f not in METHOD_FORMATS[method] and all(c in mapped.data for c in cols)]
    fits = f"; these rows fit the {others[0]} format, which is not for {method}" if others else ""
    first_missing = next(c for c in FORMAT_COLUMNS[METHOD_FORMATS[method][0]] if c not in mapped.data)
    raise UserError(f"{row.where}: column {first_missing!r}: missing (the {method} method needs {wanted}; the file "
                    f"has: {', '.join(row.data)}{fits}; map columns with dataset.columns)")


def _checked(data: dict[str, Any], fmt: RowFormat, where: str) -> dict[str, Any]:
    """``data`` with each column's value checked for its format (text, or a list of messages)."""
    if fmt == "messages":
        _messages(data["messages"], where, "messages", need_assistant=True)
        data["messages"] = _plain(data["messages"])
    elif fmt == "text":
        _text(data["text"], where, "text")
    elif fmt == "prompt_completion":
        kinds = {col: _text_or_messages(data[col], where, col) for col in ("prompt", "completion")}
        if len(set(kinds.values())) > 1:
            raise UserError(f"{where}: column 'completion': {kinds['completion']}, but prompt is "
                            f"{kinds['prompt']} (both text, or both message lists)")
        data = {col: _plain(v) if isinstance(v, list) else v for col, v in data.items()}
    else:
        for col in FORMAT_COLUMNS[fmt]:
            _text_or_messages(data[col], where, col)
        if data.get("system") is not None:
            _text(data["system"], where, "system")
        if "margin" in data:
            _number(data["margin"], where, "margin")
    return data


def _number(value: Any, where: str, col: str) -> None:
    import math

    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"{where}: column {col!r}: expected a finite number, got {_short(value)}")


def _text(value: Any, where: str, col: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: column {col!r}: expected non-empty text, got {_short(value)}")


def _text_or_messages(value: Any, where: str, col: str) -> str:
    if isinstance(value, list):
        _messages(value, where, col, need_assistant=False)
        return "a message list"
    _text(value, where, col)
    return "text"


def _messages(value: Any, where: str, col: str, need_assistant: bool) -> None:
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: column {col!r}: expected a non-empty list of {{role, content}}, got {_short(value)}")
    for i, msg in enumerate(value, start=1):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise UserError(f"{where}: column {col!r}: message {i}: expected {{role, content}} with text content, "
                            f"got {_short(msg)}")
        if msg.get("role") not in ROLES:
            raise UserError(f"{where}: column {col!r}: message {i}: role must be one of {', '.join(ROLES)}, got "
                            f"{msg.get('role')!r}")
    if need_assistant and not any(m["role"] == "assistant" for m in value):
        raise UserError(f"{where}: column {col!r}: no assistant message (nothing to train on)")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- one kind per dataset ---------------------------------------------------------------------------------

def _make_uniform(rows: list[_Row], fmt: RowFormat) -> bool:
    """Whether the rows are conversational; preference rows are all made one kind (in place)."""
    if fmt == "messages":
        return True
    if fmt == "text":
        return False
    if fmt == "prompt_completion":
        conversational = isinstance(rows[0].data["prompt"], list)
        for row in rows:
            if isinstance(row.data["prompt"], list) != conversational:
                first = "a message list" if conversational else "text"
                raise UserError(f"{row.where}: column 'prompt': {'text' if conversational else 'a message list'}, "
                                f"but the first row's is {first} (TRL needs one kind per dataset)")
        return conversational
    columns = FORMAT_COLUMNS[fmt]
    conversational = any(r.data.get("system") is not None or any(isinstance(r.data[c], list) for c in columns)
                         for r in rows)
    for row in rows:
        _normalize_preference(row, conversational)
    return conversational


def _normalize_preference(at: _Row, conversational: bool) -> None:
    row = at.data
    system = row.pop("system", None)
    if not conversational:
        return
    prompt = row["prompt"]
    prompt_msgs = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    replies = {col: row[col] if isinstance(row[col], list) else [{"role": "assistant", "content": row[col]}]
               for col in ("chosen", "rejected") if col in row}  # a prompt-only row has none
    for col, msgs in replies.items():
        # ultrafeedback repeats the prompt turns at the head of chosen/rejected: keep what follows them.
        if len(msgs) > len(prompt_msgs) and _same_turns(msgs[:len(prompt_msgs)], prompt_msgs):
            replies[col] = msgs[len(prompt_msgs):]
    if system is not None:
        if prompt_msgs[0]["role"] == "system":
            raise UserError(f"{at.where}: column 'system': given, and the prompt already opens with a system turn "
                            f"({_short(prompt_msgs[0]['content'])}); keep one")
        prompt_msgs = [{"role": "system", "content": system}, *prompt_msgs]
    row["prompt"] = _plain(prompt_msgs)
    for col, msgs in replies.items():
        row[col] = _plain(msgs)


def _same_turns(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return [(m["role"], m["content"]) for m in a] == [(m["role"], m["content"]) for m in b]


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Only role and content (one Arrow type for every row)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _split(rows: list[_Row], fraction: float, seed: int, path: str) -> tuple[list[_Row], list[_Row]]:
    """(train, eval): a seeded sample of ``fraction`` of the rows held out, file order kept in both."""
    n_eval = max(1, round(len(rows) * fraction))
    if n_eval >= len(rows):
        raise UserError(f"dataset {path!r}: eval_fraction {fraction} of {len(rows)} rows leaves none to train on")
    held = set(random.Random(seed).sample(range(len(rows)), n_eval))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]

