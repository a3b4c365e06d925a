"""Progress bars (tqdm, on stderr) with an ETA; silent when stderr is not a terminal and
``EVALKIT_PROGRESS=0``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any


def progress_bar(iterable: Iterable[Any] | None, desc: str, total: int | None = None) -> Any:
    from tqdm.auto import tqdm

    disable = os.environ.get("EVALKIT_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, disable=disable, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
