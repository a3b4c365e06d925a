"""Turn a GGUF file into a plain Hugging Face checkpoint, once, under evalkit's cache.

transformers dequantizes GGUF on every load (~20 s for a 135M model) and refuses to
``save_pretrained`` a GGUF-loaded model, so we rebuild the architecture from its config, copy the
dequantized state dict in, and save safetensors + tokenizer + chat template. Later loads take
well under a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from evalkit.models.cache import cache_dir
from evalkit.models.fingerprint import file_digest


def converted_dir(gguf_path: Path) -> Path:
    """Where the converted checkpoint of ``gguf_path`` lives (keyed by the file's digest)."""
    return cache_dir() / "gguf" / f"{gguf_path.stem}-{file_digest(gguf_path)[:16]}"


def convert_gguf(gguf_path: Path) -> Path:
    """The HF checkpoint folder for ``gguf_path``, converting it first if needed."""
    target = converted_dir(gguf_path)
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"evalkit: converting {gguf_path.name} to a Hugging Face checkpoint (once) ...", flush=True)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the saved weights are plain float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a killed conversion never leaves a half checkpoint.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf_path}\ndigest:{file_digest(gguf_path)}\n")
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same conversion first (the rename cannot replace a
            # non-empty folder): its checkpoint is the one we would have written.
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target

