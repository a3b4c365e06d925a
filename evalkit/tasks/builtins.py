"""Named functions a task file may use without running any code of its own, and recognition of lm-eval's.

A task file refers to a built-in by name; lm-eval's own task files say ``!function utils.process_docs``,
and :func:`recognise` maps such a reference to a built-in when the helper file is lm-eval 0.4.13's,
unmodified, so the standard tasks run without allowing code. The built-ins (all equal to lm-eval's
helpers on real documents; ``process_docs`` ones take and return a list of dicts, not a ``Dataset``),
each with the lm-eval 0.4.13 helper it stands for (files under ``lm_eval/tasks``):

- ``hellaswag.process_docs`` ``(docs) -> docs``: ``hellaswag/utils.py`` ``process_docs``;
- ``truthfulqa.process_results_mc2`` ``(doc, results) -> {"acc"}``, ``truthfulqa.process_docs_gen``
  ``(docs) -> docs``, ``truthfulqa.process_results_gen`` ``(doc, results) -> {"bleu_max", ...}``:
  ``truthfulqa/utils.py``'s functions of the same names;
- ``winogrande.doc_to_text`` ``(doc) -> int``, ``winogrande.doc_to_target`` ``(doc) -> str``,
  ``winogrande.doc_to_choice`` ``(doc) -> list[str]``: ``winogrande/preprocess_winogrande.py``;
- ``mnli.doc_to_text`` ``(doc) -> str``: ``glue/mnli/utils.py`` ``doc_to_text``;
- ``copa.doc_to_text``, ``copa.doc_to_target`` ``(doc) -> str``, ``copa.doc_to_choice``
  ``(doc) -> list[str]``: ``super_glue/copa/utils.py``.

Recognition never imports or runs the file. It parses it with :mod:`ast` and hashes (SHA-256) the exact
source of the function together with every module-level definition, constant and import it uses,
directly or through another helper (hellaswag's ``preprocess``), so editing any of them breaks the match.
A file whose top level does more than import, define and assign names (``re.sub = ...``) is never
recognised, since importing it would change what the function does.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.registry import Registry
from evalkit.tasks import _builtin_glue, _builtin_hellaswag, _builtin_truthfulqa, _builtin_winogrande

BUILTINS: Registry[Callable[..., Any]] = Registry("built-in function")


@dataclass(frozen=True)
class Known:
    """A built-in and the lm-eval 0.4.13 helper it stands for."""

    name: str
    function: Callable[..., Any]
    field: str  # the task-file field lm-eval's task fills with it
    lm_eval_file: str  # relative to lm_eval/tasks
    lm_eval_function: str
    sha256: str  # of the helper's source as :func:`fingerprint` takes it


KNOWN: tuple[Known, ...] = (
    Known("hellaswag.process_docs", _builtin_hellaswag.process_docs, "process_docs",
          "hellaswag/utils.py", "process_docs",
          "6e53e6179eb729950f5e3bc08894da38cc4e4f252e8d40de1860d05938e8329a"),
    Known("truthfulqa.process_results_mc2", _builtin_truthfulqa.process_results_mc2, "process_results",
          "truthfulqa/utils.py", "process_results_mc2",
          "7ce52201fa940a6cc375c6c7346a409865b5878ee767f64b24663af7a4d9eb63"),
    Known("truthfulqa.process_docs_gen", _builtin_truthfulqa.process_docs_gen, "process_docs",
          "truthfulqa/utils.py", "process_docs_gen",
          "69c3c7aae538390d4baa6a8d6bf6e3eeae294e41a441ffa24fdde25bfa1e5fa6"),
    Known("truthfulqa.process_results_gen", _builtin_truthfulqa.process_results_gen, "process_results",
          "truthfulqa/utils.py", "process_results_gen",
          "705c38f4d5a434396963b3a1f5eab2179705081dd706eec60f3407bcf4b03019"),
    Known("winogrande.doc_to_text", _builtin_winogrande.doc_to_text, "doc_to_text",
          "winogrande/preprocess_winogrande.py", "doc_to_text",
          "27e9872afeab76902d6032c976619ccb70c61c8204fa9bac8dbd2663ebb6ec8a"),
    Known("winogrande.doc_to_target", _builtin_winogrande.doc_to_target, "doc_to_target",
          "winogrande/preprocess_winogrande.py", "doc_to_target",
          "ad09001157056053ce4ea43e48232ffaf5a001cef295a03b776d89c4fbe862c1"),
    Known("winogrande.doc_to_choice", _builtin_winogrande.doc_to_choice, "doc_to_choice",
          "winogrande/preprocess_winogrande.py", "doc_to_choice",
          "530c0030f94d2ae37970a3131ab888123ec785148a461cce557f4e81ffdd0829"),
    Known("mnli.doc_to_text", _builtin_glue.mnli_doc_to_text, "doc_to_text",
          "glue/mnli/utils.py", "doc_to_text",
          "db3099bba72b47a29018221bbca9a9d44f043b5bf4fbc9df93b8081687ba895e"),
    Known("copa.doc_to_text", _builtin_glue.copa_doc_to_text, "doc_to_text",
          "super_glue/copa/utils.py", "doc_to_text",
          "bd2db59df75f8a1633193075ae829d4ef55a4c42c02d864b80192c352cc2c53a"),
    Known("copa.doc_to_target", _builtin_glue.copa_doc_to_target, "doc_to_target",
          "super_glue/copa/utils.py", "doc_to_target",
          "40d4a238ae4a2bbd05915f95b48f99277df73a504e9b01ecafed1015fdbfbaa0"),
    Known("copa.doc_to_choice", _builtin_glue.copa_doc_to_choice, "doc_to_choice",
          "super_glue/copa/utils.py", "doc_to_choice",
          "b96ba9ad62c97039748ec907d7e401d22c34ec909657d2db57769f4bac7b7528"),
)

for _known in KNOWN:
    BUILTINS.register(_known.name)(_known.function)

_BY_SHA256: dict[str, str] = {}
for _known in KNOWN:
    if _BY_SHA256.setdefault(_known.sha256, _known.name) != _known.name:
        raise ValueError(f"built-ins {_BY_SHA256[_known.sha256]!r} and {_known.name!r} share a fingerprint")


def recognise(module_file: Path, function: str) -> str | None:
    """The built-in's name when ``function`` in ``module_file`` is lm-eval 0.4.13's helper, else ``None``.

    The file is read, never imported. ``None`` also for a file that is not valid UTF-8 Python.
    Raises :class:`OSError` when the file cannot be read.
    """
    try:
        source = module_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    digest = fingerprint(source, function)
    return None if digest is None else _BY_SHA256.get(digest)


def suggest(field: str, function: str, module_file: Path | None = None) -> str | None:
    """The built-in that a refused ``!function`` in ``field`` most likely meant, else ``None``.

    A built-in qualifies when it fills the same field (``process_docs``, ``doc_to_text`` ...), stands for
    an lm-eval helper named ``function`` and, given ``module_file``, one in a file of the same name and
    folder (``winogrande/preprocess_winogrande.py``); the name is returned only when exactly one does.
    This is advice for a modified or other-version copy of lm-eval's helper, not a proof of equivalence.
    """
    candidates = [known for known in KNOWN if known.field == field.split(".")[0] and known.lm_eval_function == function]
    if module_file is not None:
        where = (module_file.parent.name, module_file.name)
        candidates = [known for known in candidates if tuple(known.lm_eval_file.split("/")[-2:]) == where]
    return candidates[0].name if len(candidates) == 1 else None


def fingerprint(source: str, function: str) -> str | None:
    """SHA-256 of the module-level function ``function`` and every module-level statement it depends on.

    ``None`` when the source does not parse, when ``function`` is not bound exactly once, by a plain
    ``def``, or when the module's top level does anything but import, define and assign names.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    bindings: dict[str, list[ast.stmt]] = {}
    for statement in tree.body:
        names = _bound_names(statement)
        if names is None:
            return None
        for name in names:
            bindings.setdefault(name, []).append(statement)
    defined = bindings.get(function, [])
    if len(defined) != 1 or not isinstance(defined[0], ast.FunctionDef):
        return None

    needed: dict[int, ast.stmt] = {}
    pending: list[ast.stmt] = [defined[0]]
    while pending:
        statement = pending.pop()
        if id(statement) in needed:
            continue
        needed[id(statement)] = statement
        for name in _used_names(statement):
            pending.extend(bindings.get(name, []))

    lines = source.splitlines(keepends=True)
    segments = [_segment(lines, statement) for statement in sorted(needed.values(), key=_first_line)]
    return hashlib.sha256("\0".join(segments).encode("utf-8")).hexdigest()


def _bound_names(statement: ast.stmt) -> list[str] | None:
    """The names a top-level statement binds, or ``None`` when it does more than bind names."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return []  # a docstring or other bare constant
    if isinstance(statement, ast.Import):
        return [(alias.asname or alias.name).split(".")[0] for alias in statement.names]
    if isinstance(statement, ast.ImportFrom):
        return [alias.asname or alias.name for alias in statement.names]
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    if isinstance(statement, ast.Assign) and all(isinstance(target, ast.Name) for target in statement.targets):
        return [target.id for target in statement.targets if isinstance(target, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    return None


def _used_names(statement: ast.stmt) -> Iterator[str]:
    for node in ast.walk(statement):
        if isinstance(node, ast.Name):
            yield node.id


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(decorator.lineno for decorator in decorators)])


def _segment(lines: list[str], statement: ast.stmt) -> str:
    """The statement's exact text, whole lines, decorators included (top-level code starts at column 0)."""
    return "".join(lines[_first_line(statement) - 1 : statement.end_lineno])
