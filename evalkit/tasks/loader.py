"""Task files and group files into typed, checked objects: includes merged, names resolved, code gated.

What is checked here, before any data or model is touched (each problem one ``file:line:col:
field: message`` line): YAML syntax and duplicate keys; unknown keys anywhere (with the known ones
listed); unknown metrics, aggregations and filters and their options; a metric the output type
cannot produce; regexes that do not compile; include cycles; and code. Code (``!function``,
``process_docs``/``process_results`` given as functions, ``custom_dataset``, ``filter: custom``,
``evaluate:`` metrics) is refused unless the user passed ``--allow-task-code``, except lm-eval
0.4.13's own helper functions, which are recognised by the hash of their source and replaced by
evalkit's built-ins without importing the file. What needs the documents (templates against
columns, gold indices) is checked when the task's data loads (:mod:`evalkit.tasks.task`).

Include semantics are lm-eval 0.4.13's (``tasks/_yaml_loader.load_yaml``): ``include`` is a path or a list,
relative to the including file; included files are merged shallowly in the order listed (a later
entry's keys win over an earlier one's), and the including file's own keys over all of them.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import os
import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalkit.errors import ConfigError, UserError
from evalkit.tasks.schema import (
    BuiltinRef,
    CodeRef,
    FunctionRef,
    GroupFile,
    MetricEntry,
    TaskFile,
)
from evalkit.validation import data_path, validate
from evalkit.yaml_source import Loc, SourceMap, format_loc, load_yaml

#: The task files evalkit ships (``evalkit run arc_easy`` resolves names here).
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "suites" / "tasks"

#: Where the risk of ``--allow-task-code`` is stated once, for every refusal message.
ALLOW_HINT = "pass --allow-task-code to run the file's Python (it runs with your permissions)"

#: Keys of TaskFile that hold a template, a column, a constant or code (the "doc_to" family).
TEMPLATE_FIELDS = ("doc_to_text", "doc_to_target", "doc_to_choice")


def _function_tag(value: str, file: str, line: int, column: int) -> FunctionRef:
    return FunctionRef(value, Path(file).resolve().parent, file, line, column)


def _builtin_tag(value: str, file: str, line: int, column: int) -> BuiltinRef:
    return BuiltinRef(value, file, line, column)


TAGS = {"!function": _function_tag, "!builtin": _builtin_tag}


@dataclass
class Origin:
    """Where the top-level keys of a merged config came from (each key from exactly one file)."""

    sources: dict[str, SourceMap] = field(default_factory=dict)
    default: SourceMap | None = None

    def error(self, loc: Loc, message: str) -> ConfigError:
        key = loc[0] if loc else None
        source = self.sources.get(key) if isinstance(key, str) else None
        source = source or self.default
        assert source is not None
        return source.error(loc, message)


@dataclass(frozen=True)
class LoadedTask:
    """One task ready to be built into an evaluator."""

    config: TaskFile
    path: Path
    sha256: str  # of the merged config and the source of every function it uses
    origin: Origin
    functions: dict[CodeRef, Callable[..., Any]]  # every code reference, resolved (built-in or allowed code)
    group: str | None = None  # the innermost group that listed it, if any
    hf_metrics: dict[str, Any] = field(default_factory=dict)  # evaluate:PATH name -> per-document scorer

    @property
    def name(self) -> str:
        return self.config.task

    @property
    def version(self) -> Any:
        return (self.config.metadata or {}).get("version")

    def error(self, loc: Loc, message: str) -> ConfigError:
        return self.origin.error(loc, message)


@dataclass(frozen=True)
class LoadedGroup:
    name: str
    alias: str | None
    members: tuple[str, ...]  # task or group names, as listed
    aggregate: tuple[Any, ...]  # AggregateMetric entries (empty: the group reports no aggregate)
    path: Path
    version: Any = None


@dataclass
class TaskCollection:
    """Tasks (unique names, in order) and groups (children before parents)."""

    tasks: list[LoadedTask] = field(default_factory=list)
    groups: list[LoadedGroup] = field(default_factory=list)

    def add_task(self, task: LoadedTask) -> None:
        if any(t.name == task.name for t in self.tasks):
            raise task.error(("task",), f"task name {task.name!r} is used twice")
        self.tasks.append(task)

    def extend(self, other: TaskCollection) -> None:
        for t in other.tasks:
            if all(t.name != mine.name for mine in self.tasks):
                self.tasks.append(t)
        for g in other.groups:
            if all(g.name != mine.name for mine in self.groups):
                self.groups.append(g)


class TaskLoader:
    """Loads task and group files; ``search_dirs`` are where task, group and tag names are looked up."""

    def __init__(self, *, allow_code: bool = False, search_dirs: Sequence[Path] = ()):
        self.allow_code = allow_code
        self.search_dirs = [*search_dirs, SHIPPED_DIR]
        self._index: dict[str, list[Path]] | None = None

    # -- entry points ------------------------------------------------------------------------------
    def load(self, target: str | Path, *, overrides: dict[str, Any] | None = None) -> TaskCollection:
        """A task file, a group file, a folder of them, or a name (task, group or tag) in the search dirs."""
        path = Path(target).expanduser()
        if path.is_dir():
            return self.load_folder(path)
        if path.is_file():
            return self.load_file(path, overrides=overrides)
        return self.load_name(str(target), overrides=overrides)

    def load_folder(self, folder: Path) -> TaskCollection:
        out = TaskCollection()
        files = yaml_files(folder)
        kinds = {p: peek_kind(p) for p in files}
        if not any(k in ("task", "group") for k in kinds.values()):
            raise UserError(f"{folder}: no task or group files (*.yaml with a task: or group: key)")
        self.search_dirs.insert(0, folder)
        for p in files:
            if kinds[p] in ("task", "group"):
                out.extend(self.load_file(p))
        return out

    def load_name(self, name: str, *, overrides: dict[str, Any] | None = None) -> TaskCollection:
        files = self.index().get(name)
        if not files:
            close = difflib.get_close_matches(name, self.index(), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserError(f"{name}: not a file, a folder or a known task, group or tag{hint}; "
                            f"`evalkit tasks list` shows the shipped ones")
        out = TaskCollection()
        for p in files:
            kind = peek_kind(p)
            collected = self.load_file(p, overrides=overrides)
            if kind == "task" and any(t.name == name for t in collected.tasks):
                collected.tasks = [t for t in collected.tasks if t.name == name]
            out.extend(collected)
        return out

    def load_file(self, path: Path, *, overrides: dict[str, Any] | None = None) -> TaskCollection:
        raw, origin, files = self._merge(path.resolve(), shown=str(path), stack=())
        if "group" in raw and "task" in raw and isinstance(raw.get("task"), list):
            return self._group(raw, origin, path, ())
        if "suite" in raw:
            raise origin.error(("suite",), "this is an evalkit suite, not a task file (run it as a suite)")
        if overrides:
            raw = {**raw, **overrides}
        out = TaskCollection()
        out.add_task(self._task(raw, origin, path, files))
        return out

    # -- names -------------------------------------------------------------------------------------
    def index(self) -> dict[str, list[Path]]:
        """name -> files: every task name, group name and tag in the search dirs."""
        if self._index is None:
            index: dict[str, list[Path]] = {}
            for folder in self.search_dirs:
                if not folder.is_dir():
                    continue
                for p in yaml_files(folder):
                    for name in _names_in(p, self):
                        index.setdefault(name, [])
                        if p not in index[name]:
                            index[name].append(p)
            self._index = index
        return self._index

    # -- merging -----------------------------------------------------------------------------------
    def merged_config(self, path: Path) -> dict[str, Any]:
        """The file's keys with its includes merged, as read: not validated, no code resolved (for listings)."""
        return self._merge(path.resolve(), str(path), ())[0]

    def _merge(self, path: Path, shown: str, stack: tuple[Path, ...]) -> tuple[dict[str, Any], Origin, list[Path]]:
        data, source = load_yaml(path, shown_as=shown, tags=TAGS)
        if not isinstance(data, dict):
            raise source.error((), "a task file must be a mapping (task:, dataset_path:, ...)")
        return self._merge_data(data, source, path, stack)

    def _merge_data(self, data: dict[str, Any], source: SourceMap, path: Path,
                    stack: tuple[Path, ...]) -> tuple[dict[str, Any], Origin, list[Path]]:
        """``data`` (read from ``path``) with its includes merged under it."""
        data = dict(data)
        origin = Origin(default=source)
        includes = data.pop("include", None)
        merged: dict[str, Any] = {}
        files = [path]
        if includes is not None:
            listed = [includes] if isinstance(includes, str) else includes
            if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
                raise source.error(("include",), "expected a file path or a list of them")
            # Applied in the order listed, so a later file wins over an earlier one: lm-eval 0.4.13's
            # ``tasks/_yaml_loader.load_yaml`` (older lm-eval reversed the list, letting the first win).
            for i in range(len(listed)):
                where: Loc = ("include",) if isinstance(includes, str) else ("include", i)
                inc = Path(listed[i]).expanduser()
                inc = (inc if inc.is_absolute() else path.parent / inc).resolve()
                if inc == path or inc in stack:
                    chain = " -> ".join(p.name for p in (*stack, path, inc))
                    raise source.error(where, f"include cycle: {chain}")
                if not inc.is_file():
                    raise source.error(where, f"no such file {listed[i]!r} (relative to {path.parent})")
                sub, sub_origin, sub_files = self._merge(inc, str(inc), (*stack, path))
                merged.update(sub)
                origin.sources.update(sub_origin.sources)
                files += sub_files
        merged.update(data)
        origin.sources.update({key: source for key in data})
        return merged, origin, files

    # -- groups ------------------------------------------------------------------------------------
    def _group(self, raw: dict[str, Any], origin: Origin, path: Path, stack: tuple[str, ...]) -> TaskCollection:
        config: GroupFile = _validate(GroupFile, raw, origin, "a group file")
        if config.group in stack:
            raise origin.error(("group",), f"group cycle: {' -> '.join((*stack, config.group))}")
        if path.parent not in self.search_dirs:  # sibling files are found by name, as lm-eval's include path
            self.search_dirs.insert(0, path.parent)
            self._index = None
        out = TaskCollection()
        members: list[str] = []
        source = origin.sources.get("task") or origin.default
        assert source is not None
        for i, entry in enumerate(config.task):
            loc: Loc = ("task", i)
            if isinstance(entry, str):
                try:
                    sub = self.load_name(entry)
                except ConfigError:
                    raise
                except UserError as exc:
                    raise source.error(loc, str(exc).split(": ", 1)[-1]) from None
                kind = peek_kind(self.index()[entry][0])
                if kind == "group":
                    members.append(entry)
                else:
                    members += [t.name for t in sub.tasks]
            elif isinstance(entry, dict):
                inner = SourceMap(source.path, {k[2:]: v for k, v in source.marks.items() if k[:2] == loc})
                if "group" in entry:
                    merged, inner_origin, _ = self._merge_data(entry, inner, path, ())
                    sub = self._group(merged, inner_origin, path, (*stack, config.group))
                    members.append(str(entry["group"]))
                else:
                    sub = self._inline_task(entry, inner, path)
                    members += [t.name for t in sub.tasks]
            else:
                raise source.error(loc, "expected a task name or a task mapping")
            out.extend(sub)
        version = (config.metadata or {}).get("version")
        out.groups.append(LoadedGroup(config.group, config.group_alias, tuple(members),
                                      tuple(config.aggregate_metric_list or ()), path, version))
        return out

    def _inline_task(self, entry: dict[str, Any], source: SourceMap, path: Path) -> TaskCollection:
        """A task written inside a group: its own config (with includes), or a known task's with overrides."""
        name = entry.get("task")
        if "include" not in entry and isinstance(name, str) and name in self.index():
            base = self.index()[name][0]
            raw, origin, files = self._merge(base.resolve(), str(base), ())
            origin.sources.update({k: source for k in entry})
            out = TaskCollection()
            out.add_task(self._task({**raw, **entry}, origin, base, files))
            return out
        raw, origin, files = self._merge_data(entry, source, path, ())
        out = TaskCollection()
        out.add_task(self._task(raw, origin, path, files))
        return out

    # -- tasks -------------------------------------------------------------------------------------
    def _task(self, raw: dict[str, Any], origin: Origin, path: Path, files: list[Path],
              group: str | None = None) -> LoadedTask:
        if "class" in raw:  # lm-eval's Python task classes: code, and a harness of their own
            raise origin.error(("class",), "a Python task class is code in a task file and is refused; evalkit runs "
                                           "declared tasks only (--allow-task-code does not change this): declare "
                                           "the task with doc_to_text, doc_to_target, doc_to_choice and metric_list")
        for key in ("doc_to_image", "doc_to_audio"):
            if raw.get(key) is not None:
                raise origin.error((key,), "multimodal tasks are not supported by evalkit")
        if raw.get("use_prompt") is not None:
            raise origin.error(("use_prompt",), "promptsource prompts are not supported; write doc_to_text instead")
        if isinstance(raw.get("filter_list"), str):
            raise origin.error(("filter_list",), "expected a list of {name, filter: [...]} entries")
        for key in TEMPLATE_FIELDS:  # YAML reads yes/no/true as booleans, which pydantic would take as 1/0
            if isinstance(raw.get(key), bool):
                raise origin.error((key,), f"{raw[key]!r} is a boolean (YAML reads yes/no/true/false so), not a "
                                           "column, a template or an index; quote it")
        config = _validate(TaskFile, raw, origin, "a task file")
        if config.output_type == "multiple_choice" and config.doc_to_choice is None:
            raise origin.error(("output_type",), "multiple_choice needs doc_to_choice (the answer choices)")
        _check_metrics(config, origin)
        _check_filters(config, origin)
        functions = {ref: self._function(ref, loc, origin) for loc, ref in _code_refs(config)}
        digest = hashlib.sha256(_canonical(raw).encode())
        for ref in functions:
            if isinstance(ref, FunctionRef) and ref.module_file.is_file():
                digest.update(ref.module_file.read_bytes())
        hf_metrics = self._evaluate_metrics(config, origin, digest)
        return LoadedTask(config, path, digest.hexdigest(), origin, functions, group, hf_metrics)

    def _evaluate_metrics(self, config: TaskFile, origin: Origin, digest: Any) -> dict[str, Any]:
        """``metric: evaluate:PATH`` entries, loaded (with --allow-task-code) from local modules only."""
        from evalkit.tasks import evaluate_metrics

        out: dict[str, Any] = {}
        for i, entry in enumerate(config.metric_list or []):
            name = entry.metric
            if not evaluate_metrics.is_evaluate_metric(name):
                continue
            assert isinstance(name, str)
            loc: Loc = ("metric_list", i, "metric")
            source = origin.sources.get("metric_list") or origin.default
            assert source is not None
            path = evaluate_metrics.metric_path(name, Path(source.path).resolve().parent)
            if not path.exists():
                raise origin.error(loc, f"{name}: no such local metric module {str(path)!r} (evaluate: metrics "
                                        "are local files, never fetched)")
            if config.output_type != "generate_until" or config.process_results is not None:
                raise origin.error(loc, f"{name}: evaluate metrics score generated text (output_type: generate_until, "
                                        "without process_results)")
            if not self.allow_code:
                raise origin.error(loc, f"{name} runs the metric module's Python and is refused ({ALLOW_HINT})")
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                digest.update(file.read_bytes())
            out[name] = evaluate_metrics.load(path, name)
        return out

    def _function(self, ref: CodeRef, loc: Loc, origin: Origin) -> Callable[..., Any]:
        from evalkit.tasks import builtins

        field_name = format_loc(loc)
        if isinstance(ref, BuiltinRef):
            if ref.name not in builtins.BUILTINS:
                close = difflib.get_close_matches(ref.name, builtins.BUILTINS.names(), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(ref.file, ref.line, ref.column, field_name, f"unknown built-in {ref.name!r}{hint} "
                                  f"(known: {', '.join(builtins.BUILTINS.names())})")
            return builtins.BUILTINS.get(ref.name)
        module = ref.module_file
        if not module.is_file():
            raise ConfigError(ref.file, ref.line, ref.column, field_name,
                              f"{ref}: no such file {str(module)!r}")
        recognised = builtins.recognise(module, ref.function)
        if recognised is not None:
            return builtins.BUILTINS.get(recognised)
        if not self.allow_code:
            # Only a helper of the same name, field and file name as lm-eval's (a modified copy) gets advice.
            alternative = builtins.suggest(field_name.rsplit(".", 1)[-1], ref.function, module)
            instead = f"; use the built-in instead: !builtin {alternative}" if alternative else ""
            raise ConfigError(ref.file, ref.line, ref.column, field_name,
                              f"{ref} is code in a task file and is refused ({ALLOW_HINT}){instead}")
        return _import_function(ref, field_name)


def _import_function(ref: FunctionRef, field_name: str) -> Callable[..., Any]:
    """Import the module a ``!function`` names (only with --allow-task-code) and return the function."""
    module_file = ref.module_file
    spec = importlib.util.spec_from_file_location(f"evalkit_task_code.{module_file.stem}", module_file)
    if spec is None or spec.loader is None:
        raise ConfigError(ref.file, ref.line, ref.column, field_name, f"{ref}: cannot import {module_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, ref.function, None)
    if not callable(fn):
        raise ConfigError(ref.file, ref.line, ref.column, field_name,
                          f"{ref}: {module_file.name} has no function {ref.function!r}")
    return fn


def _code_refs(config: TaskFile) -> Iterable[tuple[Loc, CodeRef]]:
    """Every code reference of a task, with the field it sits in."""
    for key in ("custom_dataset", "process_docs", "process_results", *TEMPLATE_FIELDS):
        value = getattr(config, key)
        if isinstance(value, FunctionRef | BuiltinRef):
            yield (key,), value
    fs = config.fewshot_config
    if fs is not None:
        for key in ("samples", "process_docs", *TEMPLATE_FIELDS):
            value = getattr(fs, key)
            if isinstance(value, FunctionRef | BuiltinRef):
                yield ("fewshot_config", key), value
    for i, entry in enumerate(config.metric_list or []):
        for key in ("metric", "aggregation"):
            value = getattr(entry, key)
            if isinstance(value, FunctionRef | BuiltinRef):
                yield ("metric_list", i, key), value
    for i, pipeline in enumerate(config.filter_list or []):
        for j, step in enumerate(pipeline.filter):
            if isinstance(step.filter_fn, FunctionRef | BuiltinRef):
                yield ("filter_list", i, "filter", j, "filter_fn"), step.filter_fn


def _check_metrics(config: TaskFile, origin: Origin) -> None:
    from evalkit.tasks.metrics import AGGREGATIONS, METRICS

    for i, entry in enumerate(config.metric_list or []):
        loc: Loc = ("metric_list", i)
        name = entry.metric
        if isinstance(name, str) and name.startswith("evaluate:"):
            continue  # checked with the code references (it runs a module's Python)
        if isinstance(name, str) and config.process_results is None:
            if name not in METRICS:
                raise origin.error(loc + ("metric",), _unknown("metric", name, METRICS.names()))
            spec = METRICS.get(name)
            if config.output_type not in spec.output_types:
                can = ", ".join(sorted(spec.output_types))
                raise origin.error(loc + ("metric",), f"metric {name!r} cannot be computed for output_type "
                                                      f"{config.output_type!r} (it needs {can})")
            for key in entry.options:
                if key not in spec.options:
                    known = sorted(spec.options | set(MetricEntry.model_fields))
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise origin.error(loc + (key,), f"unknown key for metric {name!r} ({hint}known: "
                                                     f"{', '.join(known)})")
            _check_regexes(entry.options.get("regexes_to_ignore"), loc + ("regexes_to_ignore",), origin)
        if isinstance(entry.aggregation, str) and entry.aggregation not in AGGREGATIONS:
            raise origin.error(loc + ("aggregation",), _unknown("aggregation", entry.aggregation, AGGREGATIONS.names()))


def _check_regexes(value: Any, loc: Loc, origin: Origin) -> None:
    """``regexes_to_ignore`` (exact_match): a list of patterns that compile (lm-eval fails at scoring time)."""
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise origin.error(loc, f"expected a list of regular expressions, got {value!r}")
    for j, pattern in enumerate(value):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise origin.error(loc + (j,), f"{pattern!r} is not a valid regular expression: {exc}") from None


def _check_filters(config: TaskFile, origin: Origin) -> None:
    from evalkit.tasks.filters import FILTERS, check_filter_args

    for i, pipeline in enumerate(config.filter_list or []):
        for j, step in enumerate(pipeline.filter):
            loc: Loc = ("filter_list", i, "filter", j)
            if step.function not in FILTERS:
                raise origin.error(loc + ("function",), _unknown("filter", step.function, FILTERS.names()))
            if step.function == "custom" and step.filter_fn is None:
                raise origin.error(loc, "filter: custom needs filter_fn: !function module.name")
            problem = check_filter_args(step.function, step.options)
            if problem:
                bad = next((k for k in step.options if k in problem), None)
                raise origin.error(loc + ((bad,) if bad else ()), problem)


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(known)}"


def _validate(model: Any, raw: dict[str, Any], origin: Origin, owner: str) -> Any:
    """pydantic validation, the problem located in the file that set the offending key.

    An unknown key is reported before any other problem: a misspelt required key (``filters:`` for
    ``filter:``) is both missing and unknown, and only the unknown one can say "did you mean".
    """
    from pydantic import ValidationError

    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
    unknown = next((e for e in errors if e["type"] == "extra_forbidden"), None)
    first = unknown or errors[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    source = origin.sources.get(key) or origin.default
    assert source is not None
    if unknown is not None:
        where = data_path(raw, unknown["loc"])
        inner = _model_at(model, unknown["loc"][:-1])
        known = sorted(inner.model_fields)
        close = difflib.get_close_matches(str(where[-1]) if where else "", known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        section = owner if inner is model else "this section"
        raise source.error(where, f"unknown field for {section} ({hint}known: {', '.join(known)})")
    validate(model, raw, source, (), owner=owner)  # raises the located ConfigError
    raise AssertionError("unreachable: the model rejected the data once")


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel]:
    """The model that validates the mapping at ``loc`` (through lists and optional fields)."""
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        nested = _nested_model(info.annotation) if info is not None else None
        model = nested or model
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_nested_model, typing.get_args(annotation)) if m is not None), None)


def _canonical(raw: dict[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)


def yaml_files(folder: Path) -> list[Path]:
    """The ``*.yaml`` files under ``folder``, sorted, outside hidden folders and ``__pycache__``.

    Hidden folders are skipped because a project's ``.venv`` holds lm-eval's ~14,000 task files: a bare
    task name looked up from a project's root would otherwise parse all of them (lm-eval's own index
    skips ``__pycache__`` and ``.ipynb_checkpoints``).
    """
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]  # not descended into
        out += [Path(root) / f for f in files if f.endswith(".yaml")]
    return sorted(out)


def peek_kind(path: Path) -> str:
    """``task``, ``group``, ``suite`` or ``other``: what a YAML file is, from its top-level keys alone."""
    try:
        data, _ = load_yaml(path, tags=TAGS)
    except ConfigError:
        return "other"
    if not isinstance(data, dict):
        return "other"
    if "suite" in data:
        return "suite"
    if "group" in data and isinstance(data.get("task"), list):
        return "group"
    if "task" in data or "include" in data:
        return "task"
    return "other"


def _names_in(path: Path, loader: TaskLoader) -> list[str]:
    """Task, group and tag names a file declares (after includes, so an inherited tag counts)."""
    try:
        raw, _, _ = loader._merge(path.resolve(), str(path), ())
    except ConfigError:
        return []
    names: list[str] = []
    if "group" in raw and isinstance(raw.get("task"), list):
        names.append(str(raw["group"]))
    elif isinstance(raw.get("task"), str) and "suite" not in raw:
        names.append(raw["task"])
        tags = raw.get("tag")
        names += [tags] if isinstance(tags, str) else [t for t in tags or [] if isinstance(t, str)]
    return names
