"""transformers' key/value cache across releases: 5.x renamed the cache argument and output field
(``cache``); older releases only know ``past_key_values``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def cache_argument(forward: Callable[..., Any]) -> str:
    """The name under which ``forward`` (a model's or decoder's) takes a key/value cache."""
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def cache_of(output: Any) -> Any:
    """The key/value cache of a forward pass's output."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values
