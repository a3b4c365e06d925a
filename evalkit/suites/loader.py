"""Load a suite file (and its includes) into typed, validated tasks.

Every problem becomes one :class:`~evalkit.errors.ConfigError` naming ``file:line:column`` and the
field; loading touches no model and writes nothing. Of the data it only checks that the local files
a suite names exist (relative to the suite file), so a typo there is reported like any other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.data import DatasetSpec
from evalkit.evaluator import Evaluator, EvaluatorSettings, evaluator_registry
from evalkit.registry import UnknownName
from evalkit.suites.schema import COMMON_KEYS, Defaults, GenerationSettings, SuiteFile, TaskCommon
from evalkit.validation import validate
from evalkit.yaml_source import Loc, SourceMap, load_yaml

if TYPE_CHECKING:
    from evalkit.tasks.loader import LoadedGroup


@dataclass(frozen=True)
class ResolvedTask:
    """A task ready to run: its evaluator class, validated settings and effective options."""

    name: str
    evaluator: type[Evaluator]
    settings: EvaluatorSettings
    dataset: DatasetSpec | None
    limit: int | None
    generation: GenerationSettings
    base_dir: Path


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: Path
    sha256: str  # of the suite file and every file it includes, in load order
    defaults: Defaults
    tasks: tuple[ResolvedTask, ...]
    #: lm-eval groups among the task files (children before parents), aggregated after their tasks.
    groups: tuple[LoadedGroup, ...] = ()


def load_suite(path: str | Path, *, allow_task_code: bool = False) -> Suite:
    """Parse, validate and resolve the suite at ``path`` (includes are relative to their file).

    ``path`` may also be an lm-eval task or group file, a folder of them, or the name of a shipped
    task, group or tag: that runs as a suite of its own. ``allow_task_code`` lets task files run
    their Python (``!function`` and the like); without it such code is refused at load.
    """
    from evalkit.tasks.loader import peek_kind

    path = Path(path)
    if path.is_dir() or not path.exists() or (path.is_file() and peek_kind(path) in ("task", "group")):
        return _task_file_suite(path, allow_task_code)
    digest = hashlib.sha256()
    groups: list[LoadedGroup] = []
    suite_file, tasks = _load_file(path, digest, stack=(), allow_code=allow_task_code, groups=groups)
    return Suite(suite_file.suite, suite_file.description, path, digest.hexdigest(), suite_file.defaults,
                 tuple(tasks), tuple(groups))


def _task_file_suite(target: Path, allow_code: bool) -> Suite:
    """A suite of one ``task:`` entry: ``evalkit run arc_easy.yaml`` (or a folder, or a shipped name)."""
    from evalkit.suites.task_files import resolve_task_files

    shown = str(target)
    source = SourceMap(shown)
    defaults = Defaults()
    resolved = resolve_task_files({"task": shown}, (), source, defaults.generation, Path.cwd(), allow_code)
    digest = hashlib.sha256()
    for task in resolved.tasks:
        digest.update(task.settings.sha256.encode())
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", target.stem if target.suffix in (".yaml", ".yml") else target.name)
    return Suite(name.strip("-.") or "tasks", f"lm-eval task files: {shown}", target, digest.hexdigest(), defaults,
                 tuple(resolved.tasks), tuple(resolved.groups))


def _load_file(path: Path, digest: Any, stack: tuple[Path, ...], *, allow_code: bool,
               groups: list[LoadedGroup]) -> tuple[SuiteFile, list[ResolvedTask]]:
    data, source = load_yaml(path)
    digest.update(path.read_bytes())
    if not isinstance(data, dict):
        raise source.error((), "a suite file must be a mapping with keys suite, tasks, ...")
    suite_file = validate(SuiteFile, data, source, ())
    tasks: list[ResolvedTask] = []
    seen: dict[str, Loc] = {}
    for i, include in enumerate(suite_file.include):
        inc_path = (path.parent / include).resolve()
        if inc_path in stack or inc_path == path.resolve():
            raise source.error(("include", i), f"include cycle through {include}")
        if not inc_path.is_file():
            raise source.error(("include", i), f"no such file {include!r} (relative to {path.parent})")
        _, included = _load_file(inc_path, digest, stack + (path.resolve(),), allow_code=allow_code, groups=groups)
        for task in included:
            _claim_name(task.name, ("include", i), seen, source)
            tasks.append(task)
    own: list[ResolvedTask] = []
    for i, raw in enumerate(suite_file.tasks):
        if isinstance(raw, dict) and "task" in raw and "evaluator" not in raw:
            from evalkit.suites.task_files import resolve_task_files

            generation = suite_file.defaults.generation
            resolved = resolve_task_files(raw, ("tasks", i), source, generation, path.parent, allow_code)
            for task in resolved.tasks:
                _claim_name(task.name, ("tasks", i, "task"), seen, source)
                digest.update(task.settings.sha256.encode())
                own.append(task)
            groups.extend(g for g in resolved.groups if all(g.name != mine.name for mine in groups))
            continue
        task = _resolve_task(raw, ("tasks", i), source, suite_file.defaults, path.parent)
        _claim_name(task.name, ("tasks", i, "name"), seen, source)
        own.append(task)
    # Files are checked once the whole file is well-formed, so that a structural error is reported first.
    for i, task in enumerate(own):
        _check_data_files(task, ("tasks", i, "dataset", "data_files"), source)
    tasks.extend(own)
    if not tasks and not stack:
        raise source.error(("tasks",), "a suite needs at least one task (in tasks or include)")
    return suite_file, tasks


def _claim_name(name: str, loc: Loc, seen: dict[str, Loc], source: SourceMap) -> None:
    if name in seen:
        raise source.error(loc, f"task name {name!r} is used twice")
    seen[name] = loc


def _resolve_task(raw: Any, loc: Loc, source: SourceMap, defaults: Defaults, base_dir: Path) -> ResolvedTask:
    if not isinstance(raw, dict):
        raise source.error(loc, "a task must be a mapping with name, evaluator, dataset, ...")
    common_raw = {k: v for k, v in raw.items() if k in COMMON_KEYS}
    own_raw = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    registry = evaluator_registry()
    if isinstance(common_raw.get("evaluator"), str) and common_raw["evaluator"] not in registry:
        try:
            registry.get(common_raw["evaluator"])
        except UnknownName as exc:
            raise source.error(loc + ("evaluator",), str(exc)) from None
    common = validate(TaskCommon, common_raw, source, loc)
    cls = registry.get(common.evaluator)
    settings = validate(cls.Settings, own_raw, source, loc, owner=f"evaluator {cls.name!r}", also_known=COMMON_KEYS)
    dataset = common.dataset or cls.default_dataset
    if dataset is None:
        raise source.error(loc, f"dataset: required by evaluator {cls.name!r}")
    generation = defaults.generation
    if common.generation is not None:
        generation = generation.model_copy(update=common.generation.model_dump(exclude_unset=True))
    return ResolvedTask(common.name, cls, settings, dataset, common.limit, generation, base_dir)


def _check_data_files(task: ResolvedTask, loc: Loc, source: SourceMap) -> None:
    """Each local file in ``dataset.data_files`` exists (patterns are left to the loader)."""
    from evalkit.data import FILE_BUILDERS

    spec = task.dataset
    if spec is None or spec.path not in FILE_BUILDERS or spec.data_files is None:
        return
    files = spec.data_files
    named: list[tuple[Loc, str]] = []
    if isinstance(files, str):
        named.append(((), files))
    elif isinstance(files, list):
        named.extend(((j,), f) for j, f in enumerate(files))
    else:
        for split, group in files.items():
            if isinstance(group, str):
                named.append(((split,), group))
            else:
                named.extend(((split, j), f) for j, f in enumerate(group))
    for where, name in named:
        full = (task.base_dir / name).expanduser()
        if not any(ch in name for ch in "*?[") and not full.exists():
            raise source.error(loc + where, f"no such file {str(full)!r}")


def describe_settings(cls: type[Evaluator]) -> list[tuple[str, str, str]]:
    """(name, type and default, help) for each setting of an evaluator, for ``evaluators list``."""
    rows = []
    for name, info in cls.Settings.model_fields.items():
        annotation = getattr(info.annotation, "__name__", str(info.annotation)).replace("typing.", "")
        default = "required" if info.is_required() else f"default {info.default!r}"
        rows.append((name, f"{annotation}, {default}", info.description or ""))
    return rows
