"""Jinja templates of task files, run in a sandbox, and lm-eval's "column, else template" rules.

A task file is data, so its templates run in Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:
no attribute that starts with ``_`` (``__class__``, ``__globals__`` ...), no ``mro``, no method that
mutates a list, dict or set, no ``range`` over 100,000 items, and here also no ``*``/``**`` that would
build a huge string or number (none of lm-eval 0.4.13's ~1,800 task templates does any of these).
Everything else renders exactly as lm-eval 0.4.13's ``lm_eval.utils.apply_template`` renders it: the same
options (``StrictUndefined``, ``keep_trailing_newline=True``, Jinja's defaults otherwise: no autoescape,
no ``trim_blocks``/``lstrip_blocks``), the same globals and the same ``regex_replace`` filter, so the text
is byte-identical.

The ``doc_to_*`` functions are lm-eval's ``ConfigurableTask.doc_to_text`` / ``doc_to_target`` /
``doc_to_choice`` (``lm_eval/api/task.py``) as pure functions of the field's value (a *spec*), the
document and the dataset's columns. They are lm-eval's rules, including the surprising ones, because
scores must match item by item; where lm-eval would crash or hand on a wrong type they raise
:class:`TemplateError` instead, with one line the loader places at ``file:line:col: field``.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: What a ``doc_to_*`` field may hold once the loader has read it (a callable is a built-in or allowed code).
Spec = str | int | list[Any] | dict[Any, Any] | Callable[[dict[str, Any]], Any]

# A template may repeat a string or list, but not into something that exhausts memory: lm-eval's real
# templates repeat at most a few characters; ten million items is far beyond any prompt.
MAX_REPEAT_ITEMS = 10_000_000
# ``2 ** 64`` is fine; ``10 ** 100000000`` (hundreds of millions of bits) would hang the loader.
MAX_POWER_BITS = 100_000

_UNDEFINED_NAME = re.compile(r"^'(?P<name>.+)' is undefined$")
# A Python-format placeholder: lm-eval prints it as is, which is never what the author meant.
_SINGLE_BRACE = re.compile(r"(?<!\{)\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")


class TemplateError(ValueError):
    """A template that cannot compile or render, or a field whose value has the wrong shape.

    The message is one line; the loader adds ``file:line:col`` and the field's name.
    """


def regex_replace(string: str, pattern: str, repl: str, count: int = 0) -> str:
    """The ``regex_replace`` filter of lm-eval's environment: :func:`re.sub` with the same arguments."""
    return re.sub(pattern, repl, string, count=count)


class _TaskEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with refusals worded for task authors and a bound on ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        return self.undefined(f"template reaches for {attribute!r} (refused)", name=attribute, obj=obj,
                              exc=SecurityError)

    def getattr(self, obj: Any, attribute: str) -> Any:
        value = super().getattr(obj, attribute)
        # A dunder the object lacks (``1 .__import__``) is still an attempt to escape, not a typo.
        if attribute.startswith("__") and isinstance(value, Undefined):
            return self.unsafe_undefined(obj, attribute)
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if isinstance(argument, str) and argument.startswith("__") and isinstance(value, Undefined):
            return self.unsafe_undefined(obj, argument)
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if len(seq) * count > MAX_REPEAT_ITEMS:
                        raise SecurityError(f"template repeats a sequence to {len(seq) * count} items (refused)")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if left.bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"template computes {left} ** {right} (refused: too large)")
        return super().call_binop(context, operator, left, right)


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one sandboxed environment every task template compiles in (shared, so compiled code is reused)."""
    env = _TaskEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["regex_replace"] = regex_replace
    return env


def _one_line(message: str) -> str:
    return " ".join(message.split())


@functools.lru_cache(maxsize=4096)
def compile_template(source: str) -> jinja2.Template:
    """``source`` compiled once in :func:`environment` (cached by source text).

    Raises :class:`TemplateError` on a syntax error, naming the line inside the template.
    """
    try:
        return environment().from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template syntax error (template line {error.lineno}): "
                            f"{_one_line(error.message or str(error))}") from None


def render(template: jinja2.Template, doc: dict[str, Any]) -> str:
    """The template rendered with the document's fields as variables (as ``apply_template(source, doc)``).

    Raises :class:`TemplateError` with one line for a name the document lacks (with "did you mean"),
    for anything the sandbox refuses (``template reaches for '__class__' (refused)``) and for any other
    failure while rendering (``ValueError: 'E' is not in list``).
    """
    try:
        return template.render(doc)
    except SecurityError as error:
        raise TemplateError(_one_line(str(error))) from None
    except UndefinedError as error:
        raise TemplateError(_undefined_message(str(error), doc)) from None
    except Exception as error:  # noqa: BLE001 -- the template's own failure (a bad index, str + int ...)
        raise TemplateError(f"template failed: {type(error).__name__}: {_one_line(str(error))}") from None


def _undefined_message(message: str, doc: dict[str, Any]) -> str:
    match = _UNDEFINED_NAME.match(message)
    if match is None:  # an attribute or key the value lacks: Jinja's own words name both
        return f"template uses an undefined value: {_one_line(message)}"
    name = match["name"]
    fields = sorted(str(key) for key in doc)
    close = difflib.get_close_matches(name, fields, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(fields[:20]) + (", ..." if len(fields) > 20 else "")
    return f"template uses {name!r}, which the document does not have (fields: {shown or 'none'}){hint}"


def single_brace_columns(source: str, columns: Iterable[str]) -> list[str]:
    """Columns written as ``{name}`` in the template's literal text, in order of first use.

    lm-eval renders ``{question}`` as those ten characters; the author meant ``{{question}}``. Only the
    text outside ``{{ }}``, ``{% %}`` and ``{# #}`` counts, and not a ``{% raw %}`` block (literal on
    purpose). Raises :class:`TemplateError` when the template does not compile.
    """
    compile_template(source)  # a syntax error is reported as such, not as a missing brace
    wanted = set(columns)
    found: list[str] = []
    in_raw = False
    for _, kind, value in environment().lex(source):
        if kind in ("raw_begin", "raw_end"):
            in_raw = kind == "raw_begin"
        elif kind == "data" and not in_raw:
            for match in _SINGLE_BRACE.finditer(value):
                name = match["name"]
                if name in wanted and name not in found:
                    found.append(name)
    return found


def column_or_template(spec: str, doc: dict[str, Any], columns: frozenset[str]) -> Any:
    """The column's value when ``spec`` names one, else the template rendered: no other conversion.

    This is lm-eval's rule for ``gen_prefix`` (and ``description``, which tests the document's keys:
    pass ``frozenset(doc)``).
    """
    return doc[spec] if spec in columns else render(compile_template(spec), doc)


def _literal(text: str, what: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise TemplateError(f"{what} rendered {_preview(text)}, which is not a Python literal") from None


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse_bool(spec: Any, field: str) -> None:
    # YAML reads ``yes``/``true`` as a bool, which is an int to Python: lm-eval would use True as index 1.
    if isinstance(spec, bool):
        raise TemplateError(f"{field}: {spec!r} is a boolean, not a column name, a template or an index")


def doc_to_text(spec: Spec, doc: dict[str, Any], columns: frozenset[str], has_choices: bool) -> Any:
    """lm-eval's ``doc_to_text``: the prompt of one document (``str``), or an ``int`` (multiple inputs).

    - an ``int`` is returned as is (an index into the choices: the task has multiple inputs);
    - a ``str`` naming a column returns that column's value unchanged;
    - any other ``str`` is a template; when the task has ``doc_to_choice`` (``has_choices``) and the
      text is all digits, it becomes an ``int`` (lm-eval: ``text.isdigit()`` then ``ast.literal_eval``);
    - a callable is called with the document and its result returned unchanged.
    """
    _refuse_bool(spec, "doc_to_text")
    if isinstance(spec, int):
        return spec
    if isinstance(spec, str):
        if spec in columns:
            return doc[spec]
        text = render(compile_template(spec), doc)
        return _literal(text, "doc_to_text") if text.isdigit() and has_choices else text
    if callable(spec):
        return spec(doc)
    raise TemplateError(f"doc_to_text: expected a column name, a template, an integer or a function, "
                        f"got {type(spec).__name__}")


def doc_to_target(spec: Spec, doc: dict[str, Any], columns: frozenset[str], has_choices: bool) -> Any:
    """lm-eval's ``doc_to_target``: an ``int`` (index into the choices), a ``str`` or a ``list`` (several targets).

    - an ``int`` or a ``list`` is returned as is;
    - a ``str`` naming a column returns that column's value unchanged;
    - any other ``str`` is a template: all digits with ``has_choices`` -> ``int``; else text of two or more
      characters that starts with ``[`` and ends with ``]`` -> ``ast.literal_eval`` of it, or the text
      itself when that is no Python literal; else the text;
    - a callable is called with the document and its result returned unchanged.
    """
    _refuse_bool(spec, "doc_to_target")
    if isinstance(spec, int | list):
        return spec
    if isinstance(spec, str):
        if spec in columns:
            return doc[spec]
        text = render(compile_template(spec), doc)
        if text.isdigit() and has_choices:
            return _literal(text, "doc_to_target")
        if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
            try:
                return ast.literal_eval(text)
            except (SyntaxError, ValueError):  # exactly what lm-eval tolerates
                return text
            except (TypeError, MemoryError, RecursionError):
                raise TemplateError(f"doc_to_target rendered {_preview(text)}, which lm-eval cannot read") from None
        return text
    if callable(spec):
        return spec(doc)
    raise TemplateError(f"doc_to_target: expected a column name, a template, an integer, a list or a function, "
                        f"got {type(spec).__name__}")


def doc_to_choice(spec: Spec, doc: dict[str, Any], columns: frozenset[str]) -> list[str]:
    """lm-eval's ``doc_to_choice``: the document's answer choices, always a list of strings.

    - a ``str`` naming a column returns that column's value;
    - any other ``str`` is a template whose text is read with ``ast.literal_eval`` (``{{choices.text}}``
      renders ``['a', 'b']``);
    - a ``list`` is the choices themselves, literally (lm-eval renders no template inside it);
    - a ``dict`` gives its values, in order;
    - a callable is called with the document.

    Raises :class:`TemplateError` ``expected a list of choices, got ...`` when the result is not a list
    of strings (lm-eval only logs that, then formats whatever it got).
    """
    _refuse_bool(spec, "doc_to_choice")
    choices: Any
    if isinstance(spec, str):
        if spec in columns:
            choices = doc[spec]
        else:
            choices = _literal(render(compile_template(spec), doc), "doc_to_choice")
    elif isinstance(spec, list):
        choices = spec
    elif isinstance(spec, dict):
        choices = list(spec.values())
    elif callable(spec):
        choices = spec(doc)
    else:
        raise TemplateError(f"doc_to_choice: expected a column name, a template, a list, a dict or a function, "
                            f"got {type(spec).__name__}")
    if not isinstance(choices, list) or not all(isinstance(choice, str) for choice in choices):
        raise TemplateError(f"expected a list of choices, got {_preview(choices)}")
    return choices
