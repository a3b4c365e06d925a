"""Load a resolved model into a backend (the only place that imports torch for models)."""

from __future__ import annotations

from typing import Any

from evalkit.errors import UserError
from evalkit.models.resolve import ModelRef

DTYPES = ("float32", "bfloat16", "float16", "auto")


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return device


def load_backend(ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> Any:
    """A ready backend for ``ref``: :class:`HFBackend` for checkpoints and adapters,
    :class:`OpenAIBackend` for endpoints."""
    if ref.kind == "openai":
        from evalkit.engine.openai_backend import OpenAIBackend

        return OpenAIBackend(ref.base_url or "", ref.api_model or "")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.engine.hf import HFBackend

    device = pick_device(device)
    torch_dtype: Any = "auto" if dtype == "auto" else getattr(torch, dtype)
    source = ref.base if ref.kind == "peft" else ref
    assert source is not None and source.path is not None
    model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch_dtype).to(device)
    tokenizer_path = ref.path if ref.kind == "peft" and (ref.path / "tokenizer_config.json").is_file() \
        else source.path  # type: ignore[operator]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    if ref.kind == "peft":
        from peft import PeftModel

        # Merged weights give the same outputs as the adapter and run at the base model's speed.
        model = PeftModel.from_pretrained(model, str(ref.path)).merge_and_unload()
    return HFBackend(model, tokenizer, batch_size=batch_size)
