"""Progress bars (tqdm, on stderr) with an ETA; silent when stderr is not a terminal and when
turned off (``EVALKIT_PROGRESS=0``, read at the command line's edge)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def progress_bar(iterable: Iterable[Any] | None, desc: str, total: int | None = None,
                 enabled: bool | None = None) -> Any:
    """A tqdm bar; ``enabled`` None follows the installed environment (see :mod:`evalkit.config`)."""
    from tqdm.auto import tqdm

    if enabled is None:
        from evalkit.config import current_environment

        enabled = current_environment().progress
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
