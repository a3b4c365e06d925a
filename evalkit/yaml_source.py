"""YAML → plain Python, remembering where every value came from.

pydantic reports errors by location (``("tasks", 1, "evaluator")``); to tell the user
``suites/x.yaml:7:5`` we keep a map from each location to the line and column of its node.
Duplicate keys are an error here (PyYAML silently keeps the last one, which would hide typos).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import ConfigError

Loc = tuple[int | str, ...]


@dataclass
class SourceMap:
    """Where each value of a parsed YAML file starts (1-based line and column)."""

    path: str
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[int | None, int | None]:
        """The mark of ``loc``, or of its closest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return self.marks[loc[:end]]
        return None, None

    def error(self, loc: Loc, message: str) -> ConfigError:
        line, column = self.locate(loc)
        return ConfigError(self.path, line, column, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    """``("tasks", 1, "evaluator")`` → ``tasks[1].evaluator``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


#: Builds the value of a tagged scalar (``!function utils.f``) from its text, file and 1-based position.
TagConstructor = Callable[[str, str, int, int], Any]


def load_yaml(path: Path, shown_as: str | None = None,
              tags: Mapping[str, TagConstructor] | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain data and its :class:`SourceMap`.

    ``tags`` maps local tags (``!function``) to constructors; any other local tag is an error.
    Raises :class:`ConfigError` for unreadable files, YAML syntax errors and duplicate keys.
    """
    shown = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(shown, None, None, "", f"cannot read file ({exc.strerror})") from None
    source = SourceMap(shown)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(shown, line, col, "", f"invalid YAML: {exc.problem or exc.context}") from None
    if node is None:
        return None, source
    source.marks[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    # One loader instance, used only for its scalar constructors (the stream is already parsed).
    return _convert(node, (), source, yaml.SafeLoader(""), tags or {}), source


def _convert(node: yaml.Node, loc: Loc, source: SourceMap, loader: yaml.SafeLoader,
             tags: Mapping[str, TagConstructor]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise ConfigError(source.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                  format_loc(loc), f"keys must be strings, got {key!r}")
            if key in out:
                raise ConfigError(source.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                  format_loc(loc + (key,)), "duplicate key")
            # A field is located at its key, which is where a reader looks for it.
            source.marks[loc + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, loc + (key,), source, loader, tags)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            source.marks[loc + (i,)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_convert(item, loc + (i,), source, loader, tags))
        return items
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if node.tag in tags and isinstance(node, yaml.ScalarNode):
        return tags[node.tag](str(node.value).strip(), source.path, line, column)
    if node.tag.startswith("!"):
        known = ", ".join(sorted(tags)) or "none"
        raise ConfigError(source.path, line, column, format_loc(loc), f"unknown YAML tag {node.tag} (known: {known})")
    return loader.construct_object(node, deep=True)
