"""pydantic validation of YAML data, with every error located as ``file:line:col: field: message``.

Shared by every reader of a YAML file (suites, task files, training configs, judge question files): each
parses it with :func:`~evalkit.yaml_source.load_yaml` (which keeps each value's position) and validates
it here, so a problem in any of them reads the same way. One error is reported: the first, in document
order. A low-level module: it imports nothing of evalkit but :mod:`evalkit.yaml_source`.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from evalkit.yaml_source import Loc, SourceMap


def validate(model: type[BaseModel], data: dict[str, Any], source: SourceMap, loc: Loc, *,
             owner: str | None = None, also_known: Iterable[str] = ()) -> Any:
    """``model`` validated from ``data`` (found at ``loc`` in ``source``), or the first problem as a
    :class:`~evalkit.errors.ConfigError`.

    ``owner`` names the thing whose top-level keys ``data`` holds (``evaluator 'perplexity'``) in an
    unknown-field message; ``also_known`` are keys accepted beside the model's own (listed with them).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]  # one clear line: the first problem, in document order
        where = loc + data_path(data, err["loc"])
        if err["type"] == "extra_forbidden":
            inner = model_at(model, err["loc"][:-1])
            top = inner is model and owner is not None
            fields = (set(also_known) | set(inner.model_fields)) if top else set(inner.model_fields)
            known = ", ".join(sorted(fields))
            close = difflib.get_close_matches(str(where[-1]) if where else "", sorted(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise source.error(where, f"unknown field for {owner if top else 'this section'} ({hint}known: {known})") \
                from None
        if err["type"] == "missing":
            raise source.error(where, "required field is missing") from None
        # A union (e.g. int | 'auto') fails once per member: say all the accepted forms at once.
        messages = list(dict.fromkeys(e["msg"] for e in errors if loc + data_path(data, e["loc"]) == where))
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) else f", got {got!r}"
        text = " or ".join(m[0].lower() + m[1:] for m in messages)
        raise source.error(where, f"{text}{shown}") from None


def model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The pydantic model that validates the mapping at ``loc`` (for listing its known keys)."""
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            continue
        candidates = [info.annotation, *typing.get_args(info.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if nested:
            model = nested[0]
    return model


def data_path(data: Any, loc: tuple[int | str, ...]) -> Loc:
    """The part of a pydantic error location that names real keys and indices of ``data``
    (pydantic adds union member names such as ``int`` that a user never wrote)."""
    path: list[int | str] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and path[-1:] != [part]:
            path.append(part)  # a missing or extra key: still the user's field name
            break
        else:
            break
        path.append(part)
    return tuple(path)
