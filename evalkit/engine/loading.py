"""Load a resolved model into the backend registered for its kind (see engine/backend.py)."""

from __future__ import annotations

from evalkit.engine.backend import Backend, backend_class
from evalkit.errors import UserError
from evalkit.models.resolve import ModelRef


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return device


def load_backend(ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> Backend:
    """A ready backend for ``ref``: :class:`~evalkit.engine.hf.HFBackend` for checkpoints and
    adapters, :class:`~evalkit.engine.openai_backend.OpenAIBackend` for endpoints."""
    return backend_class(ref).load(ref, device=device, dtype=dtype, batch_size=batch_size)
