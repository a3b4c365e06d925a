"""``evalkit tasks validate|preview|list``: lm-eval task files checked, shown and listed, with no model loaded.

- ``validate TARGET``: the static checks of :mod:`evalkit.tasks.loader`, then every document read and
  rendered into its requests exactly as ``evalkit run`` does before it loads a model; prints
  ``ok: N tasks, M documents`` or the one error line (exit 2). Data is read offline only: a hub id
  needs a folder next to the task file or a ``--data-root`` mirror (``--no-data``: static checks only).
- ``preview TARGET``: the first documents' exact requests (contexts, continuations, stop strings), golds,
  choices, filters, metrics and the request counts of the whole task; with ``--model``, prompts in the
  model's chat template when it has one (only its tokenizer is read).
- ``list [DIR]``: task, group and tag names with their file, output type, dataset and version, read
  from the files alone (no validation and no code: ``validate`` checks).

TARGET is what ``evalkit run`` takes: a task or group file, a folder of them, or a task, group or tag
name (looked up under the working folder, then among the shipped files).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.commands._args import positive_int

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.engine.requests import Request
    from evalkit.models.chat import ChatFormatter
    from evalkit.tasks.loader import LoadedTask
    from evalkit.tasks.task import TaskFileEvaluator

HELP = "check, preview and list lm-eval task files (no model is loaded)"

_CODE_HELP = ("let task files run their own Python (!function and the like); RISK: it runs with your permissions, "
              "unsandboxed (see evalkit run --help)")


def _non_negative(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", help="load task files and render every document's requests")
    preview = actions.add_parser("preview", help="the exact requests of the first documents")
    for sub in (validate, preview):
        sub.add_argument("target", help="task or group file, folder of them, or a task, group or tag name")
        sub.add_argument("--allow-task-code", action="store_true", help=_CODE_HELP)
        sub.add_argument("--data-root", type=Path, help="local mirrors of hub data sets (or $EVALKIT_DATA_ROOT)")
    validate.add_argument("--no-data", action="store_true", help="static checks only: read no documents")
    preview.add_argument("--n", type=positive_int, default=3, help="documents shown per task (default 3)")
    preview.add_argument("--model", help="show prompts in this model's chat template (its tokenizer only is read)")
    preview.add_argument("--num-fewshot", type=_non_negative, help="overrides the file's num_fewshot")
    listing = actions.add_parser("list", help="task, group and tag names in a folder (default: the shipped ones)")
    listing.add_argument("folder", type=Path, nargs="?", help="folder of task files (default suites/tasks)")


def run(args: argparse.Namespace, env: Environment) -> int:
    if args.action == "list":
        return _list(args.folder)
    from evalkit.tasks.loader import TaskLoader

    data_root = args.data_root.expanduser() if args.data_root else env.data_root
    loader = TaskLoader(allow_code=args.allow_task_code, search_dirs=[Path.cwd()])
    collection = loader.load(args.target)
    if args.action == "validate" and args.no_data:
        print(f"ok: {_count(len(collection.tasks), 'task')} (static checks only; no documents read)")
        return 0
    for task in collection.tasks:  # every task's data is checked before any is read
        _require_offline_data(task, data_root)
    if args.action == "validate":
        documents = sum(len(_prepare(task, data_root)[1]) for task in collection.tasks)
        print(f"ok: {_count(len(collection.tasks), 'task')}, {_count(documents, 'document')}")
        return 0
    chat, note = _chat(args.model)
    for i, task in enumerate(collection.tasks):
        print(("\n" if i else "") + _preview(task, data_root, args.n, args.num_fewshot, chat, note))
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# -- documents and requests, as the runner builds them -----------------------------------------------

def _require_offline_data(task: LoadedTask, data_root: Path | None) -> None:
    """Refuse a task whose documents would come from the hub: these commands never go online."""
    from evalkit.data import FILE_BUILDERS, local_folder
    from evalkit.errors import UserError
    from evalkit.tasks.docs import dataset_spec

    if task.config.custom_dataset is not None:
        return
    spec = dataset_spec(task, None)
    if spec.path in FILE_BUILDERS or local_folder(spec, task.path.parent, data_root) is not None:
        return
    where = f"no mirror of it under --data-root {data_root}" if data_root else "no --data-root mirror"
    raise UserError(f"task {task.name}: dataset {spec.path!r} is a hub id with no local copy ({where}, no folder "
                    f"of that name next to {task.path.name}); pass --data-root DIR (layout: "
                    f"DIR/<owner>/<name>[/<dataset_name>]/<split>.jsonl), or --no-data for the static checks only")


def _prepare(task: LoadedTask, data_root: Path | None, num_fewshot: int | None = None,
             chat: ChatFormatter | None = None) -> tuple[TaskFileEvaluator, list[dict[str, Any]], list[list[Request]]]:
    """The evaluator, every document and every document's requests, as ``evalkit run`` prepares them."""
    from evalkit.evaluator import TaskContext
    from evalkit.suites.schema import Defaults
    from evalkit.tasks.task import TaskFileEvaluator, settings_for

    defaults = Defaults()
    ctx = TaskContext(task.name, defaults.seed, defaults.generation, task.path.parent, data_root, "cpu", chat)
    evaluator = TaskFileEvaluator(settings_for(task, num_fewshot=num_fewshot, apply_chat_template=chat is not None),
                                  ctx)
    docs = evaluator.load_docs(evaluator.task_dataset())
    return evaluator, docs, [evaluator.requests(doc, i) for i, doc in enumerate(docs)]


def _chat(model: str | None) -> tuple[ChatFormatter | None, str]:
    """The model's chat formatter when it has a chat template, and a line saying how prompts are shown."""
    if model is None:
        return None, "prompt: plain text (no --model)"
    from evalkit.engine.backend import backend_class
    from evalkit.errors import UserError
    from evalkit.models.resolve import resolve_model

    ref = resolve_model(model)
    chat = backend_class(ref).chat_formatter(ref)
    try:
        chat([{"role": "user", "content": "?"}])  # reads the tokenizer: is there a template to apply?
    except UserError as exc:
        return None, f"prompt: plain text ({exc})"
    return chat, f"prompt: the chat template of model {ref.name} (apply_chat_template)"


# -- preview -----------------------------------------------------------------------------------------

def _preview(task: LoadedTask, data_root: Path | None, n: int, num_fewshot: int | None,
             chat: ChatFormatter | None, note: str) -> str:
    evaluator, docs, requests = _prepare(task, data_root, num_fewshot, chat)
    cfg = task.config
    kinds = Counter(r.kind for doc_requests in requests for r in doc_requests)
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    split = evaluator.docs_source.eval_split()
    lines = [f"{task.name}  ({_shown(task.path)}, version {task.version if task.version is not None else '-'})",
             f"  output_type: {cfg.output_type}; {_count(len(docs), 'document')} (split {split!r} of "
             f"{_dataset(task, split)}); num_fewshot: {evaluator.num_fewshot}",
             f"  requests: {sum(kinds.values())} for the whole task ({counts or 'none'})",
             f"  metrics: {_metrics(evaluator)}",
             f"  filters: {_filters(task)}",
             f"  {note}"]
    for i, (doc, doc_requests) in enumerate(zip(docs[:n], requests[:n])):
        lines += ["", f"  document {i}", *_document(evaluator, doc, i, doc_requests)]
    return "\n".join(lines)


def _dataset(task: LoadedTask, split: str) -> str:
    cfg = task.config
    if cfg.custom_dataset is not None:
        return f"custom_dataset ({cfg.custom_dataset})"
    files = cfg.dataset_kwargs.data_files if cfg.dataset_kwargs else None
    files = files.get(split, files) if isinstance(files, dict) else files
    return " ".join(str(part) for part in (cfg.dataset_path, cfg.dataset_name, files) if part)


def _metrics(evaluator: TaskFileEvaluator) -> str:
    from evalkit.tasks.metrics import METRICS

    if evaluator.cfg.process_results is not None:
        names = ", ".join(name for name, _ in evaluator.metrics)
        return f"{names}, computed by process_results ({evaluator.cfg.process_results})"
    directions = evaluator.metric_directions()
    out = []
    for name, entry in evaluator.metrics:
        aggregation = entry.get("aggregation") or (METRICS.get(name).aggregation if name in METRICS else "mean")
        better = "higher" if directions[name] else "lower"
        out.append(f"{name} ({aggregation}, {better} is better)")
    return ", ".join(out)


def _filters(task: LoadedTask) -> str:
    pipelines = task.config.filter_list
    if not pipelines:
        return "none (take_first: lm-eval's default)"
    shown = []
    for pipeline in pipelines:
        steps = " -> ".join(step.function + (f"({_kwargs(step.options)})" if step.options else "")
                            for step in pipeline.filter)
        shown.append(f"{pipeline.name}: {steps}")
    return "; ".join(shown)


def _kwargs(options: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in options.items())


def _document(evaluator: TaskFileEvaluator, doc: dict[str, Any], index: int, requests: list[Request]) -> list[str]:
    from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling

    rendered = evaluator.render(doc, index)
    # The gold as scoring reads it: doc_to_text's index for multiple inputs (WinoGrande), else doc_to_target.
    gold = rendered.text if evaluator.multiple_input else rendered.target
    choices = rendered.choices
    if evaluator.multiple_input:  # the choices are the contexts; the gold indexes them
        choices = None
    named = f" -> {rendered.choices[gold]!r}" if rendered.choices and isinstance(gold, int) and \
        not isinstance(gold, bool) and 0 <= gold < len(rendered.choices) else ""
    lines = [f"    gold: {gold!r}{named}"]
    if choices is not None:
        lines.append(f"    choices: {choices!r}")
    previous = None
    for j, request in enumerate(requests):
        lines.append(f"    request {j + 1}/{len(requests)} ({request.kind})")
        if isinstance(request, LoglikelihoodRolling):
            lines.append(f"      text: {request.text!r}")
            continue
        assert isinstance(request, (Loglikelihood, GenerateUntil))  # task files make no score requests
        same = request.context == previous
        lines.append("      context: " + ("(the same as above)" if same else repr(request.context)))
        previous = request.context
        if isinstance(request, Loglikelihood):
            lines.append(f"      continuation: {request.continuation!r}")
        else:
            gen_kwargs = request.arguments[1]
            lines.append(f"      until: {gen_kwargs.pop('until')!r}; max_gen_toks: {gen_kwargs.pop('max_gen_toks')}"
                         + "".join(f"; {key}: {value!r}" for key, value in gen_kwargs.items()))
    return lines


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- list --------------------------------------------------------------------------------------------

def _list(folder: Path | None) -> int:
    from evalkit.errors import UserError
    from evalkit.tasks.loader import SHIPPED_DIR, TaskLoader, peek_kind, yaml_files

    folder = folder or SHIPPED_DIR
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    loader = TaskLoader(search_dirs=[folder])
    rows: list[tuple[str, ...]] = []
    tags: dict[str, list[tuple[str, str, Path]]] = {}
    for path in yaml_files(folder):
        kind = peek_kind(path)
        if kind not in ("task", "group"):
            continue
        try:
            raw = loader.merged_config(path)
        except UserError as exc:
            rows.append((path.stem, "INVALID", "", "", "", _shown(path) + f"  ({exc})"))
            continue
        version = str((raw.get("metadata") or {}).get("version", "-")) if isinstance(raw.get("metadata"), dict) \
            else "-"
        if kind == "group":
            members = [m if isinstance(m, str) else str(m.get("task") or m.get("group")) for m in raw["task"]
                       if isinstance(m, str | dict)]
            listed = f"{_count(len(members), 'member')}: {', '.join(members)}"
            rows.append((str(raw["group"]), "group", "-", listed, version, _shown(path)))
            continue
        output_type = str(raw.get("output_type", "generate_until"))
        dataset = " ".join(str(raw[k]) for k in ("dataset_path", "dataset_name") if raw.get(k))
        rows.append((str(raw.get("task")), "task", output_type, dataset or "-", version, _shown(path)))
        tag = raw.get("tag")
        for name in [tag] if isinstance(tag, str) else tag if isinstance(tag, list) else []:
            tags.setdefault(str(name), []).append((str(raw.get("task")), output_type, path))
    for name, tagged in sorted(tags.items()):
        types = ", ".join(sorted({t for _, t, _ in tagged}))
        rows.append((name, "tag", types, f"{_count(len(tagged), 'task')}: {', '.join(sorted(m for m, _, _ in tagged))}",
                     "-", ", ".join(_shown(p) for _, _, p in tagged)))
    if not rows:
        raise UserError(f"{folder}: no task or group files (*.yaml with a task: or group: key)")
    header = ("NAME", "KIND", "OUTPUT TYPE", "DATASET", "VERSION", "FILE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0
