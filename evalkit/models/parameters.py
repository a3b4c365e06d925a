"""How many parameters a checkpoint folder holds, read from its safetensors headers (no weights loaded)."""

from __future__ import annotations

import math
from pathlib import Path

from safetensors import SafetensorError, safe_open


def count_parameters(folder: Path) -> int | None:
    """The number of values in the folder's ``*.safetensors`` tensors; ``None`` without such files or
    when a header cannot be read. A tied output layer is stored once, so it is counted once, as
    ``model.num_parameters()`` does. For an adapter folder this is the adapter's own parameters."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        try:
            # safe_open reads the header only; get_slice gives a tensor's shape without reading its data.
            with safe_open(str(file), framework="numpy") as tensors:
                total += sum(math.prod(tensors.get_slice(name).get_shape()) for name in tensors.keys())
        except (OSError, SafetensorError):
            return None
    return total
