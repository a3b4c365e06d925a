"""Model fingerprints: the key that keeps different checkpoints from sharing cached answers.

A checkpoint's fingerprint is the sha256 over, in sorted file order, each relevant file's name
and content digest: ``config.json``, ``generation_config.json``, the tokenizer files and the chat
template, and every weight file (``*.safetensors``, ``*.bin``, ``*.gguf``, adapter files).

Weight files up to 2 GiB are hashed whole. Larger ones are hashed by their size, their first
16 MiB (a safetensors header lists every tensor's name, dtype, shape and offset) and 256 evenly
spaced 1 MiB blocks: a fine-tune changes nearly every block, and reading ~270 MiB instead of tens
of GiB keeps a 70B checkpoint's fingerprint under a minute. Digests are remembered per
(path, size, mtime) in ``$EVALKIT_CACHE/fingerprints.json`` so a second run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from evalkit.models.cache import cache_dir

FULL_HASH_LIMIT = 2 * 1024**3
HEAD_BYTES = 16 * 1024**2
SAMPLE_BLOCKS = 256
BLOCK_BYTES = 1024**2

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
METADATA_FILES = ("config.json", "generation_config.json", "adapter_config.json", "tokenizer.json",
                  "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "vocab.json",
                  "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json")


def file_digest(path: Path) -> str:
    """sha256 of the file (sampled above :data:`FULL_HASH_LIMIT`), memoised by size and mtime."""
    stat = path.stat()
    memo_key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = _read_memo()
    if memo_key in memo:
        return memo[memo_key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        if stat.st_size <= FULL_HASH_LIMIT:
            for block in iter(lambda: fh.read(8 * 1024**2), b""):
                digest.update(block)
        else:
            digest.update(f"sampled:{stat.st_size}".encode())
            digest.update(fh.read(HEAD_BYTES))
            step = (stat.st_size - BLOCK_BYTES) // SAMPLE_BLOCKS
            for i in range(SAMPLE_BLOCKS):
                fh.seek(i * step)
                digest.update(fh.read(BLOCK_BYTES))
    value = digest.hexdigest()
    memo[memo_key] = value
    _write_memo(memo)
    return value


def folder_fingerprint(folder: Path) -> str:
    """Fingerprint of a checkpoint or adapter folder (see the module docstring)."""
    digest = hashlib.sha256()
    files = [p for p in sorted(folder.iterdir()) if p.is_file()
             and (p.name in METADATA_FILES or p.suffix in WEIGHT_SUFFIXES)]
    if not files:
        raise FileNotFoundError(f"{folder}: no model files")
    for p in files:
        digest.update(p.name.encode() + b"\0" + file_digest(p).encode() + b"\n")
    return digest.hexdigest()


def text_fingerprint(*parts: str) -> str:
    """Fingerprint of something whose weights evalkit cannot read (an API endpoint)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _memo_path() -> Path:
    return cache_dir() / "fingerprints.json"


def _read_memo() -> dict[str, str]:
    try:
        return json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_memo(memo: dict[str, str]) -> None:
    path = _memo_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(memo, indent=0))
    os.replace(tmp, path)  # atomic: concurrent runs never see a torn file
