"""How many parameters a checkpoint folder holds, read from its safetensors headers (no weights loaded)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path


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
            with file.open("rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
        except (OSError, ValueError, struct.error):
            return None
        total += sum(math.prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")
    return total
