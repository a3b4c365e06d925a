"""Checkpoint fingerprints: content-addressed, selective about files, memoised, sampled when huge.

The checkpoints here are small but real (a safetensors weight file, JSON config and tokenizer
files), so the tests need no model and run in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from evalkit.models import fingerprint as fp
from evalkit.models.fingerprint import file_digest, folder_fingerprint


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A memo of this test's own: these tests read, plant and tear the memo file."""
    cache = tmp_path / "evalkit-cache"
    monkeypatch.setenv("EVALKIT_CACHE", str(cache))
    return cache


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.manual_seed(0)
    save_file({"embed.weight": torch.randn(16, 8), "head.weight": torch.randn(8, 16)},
              folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0, "b": 1}}}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    return folder


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_identical_copies_have_the_same_fingerprint(checkpoint: Path, tmp_path: Path) -> None:
    copy = _copy(checkpoint, tmp_path / "copy")
    # A plain copy gets fresh mtimes, so the copy's digests are computed, not read from the memo.
    assert folder_fingerprint(copy) == folder_fingerprint(checkpoint)
    assert len(folder_fingerprint(checkpoint)) == 64


@pytest.mark.parametrize("name, new_text", [
    ("tokenizer.json", json.dumps({"model": {"vocab": {"a": 0, "c": 1}}})),
    ("tokenizer_config.json", json.dumps({"model_max_length": 1024})),
    ("chat_template.jinja", "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"),
])
def test_fingerprint_changes_with_a_tokenizer_file(checkpoint: Path, tmp_path: Path, name: str,
                                                   new_text: str) -> None:
    copy = _copy(checkpoint, tmp_path / "copy")
    (copy / name).write_text(new_text)
    assert folder_fingerprint(copy) != folder_fingerprint(checkpoint)


def test_fingerprint_ignores_files_that_cannot_change_answers(checkpoint: Path, tmp_path: Path) -> None:
    copy = _copy(checkpoint, tmp_path / "copy")
    (copy / "README.md").write_text("a model card\n")
    (copy / "SOURCE").write_text("converted from somewhere\n")
    (copy / "sub").mkdir()
    (copy / "sub" / "model.safetensors").write_bytes(b"not part of this checkpoint")
    assert folder_fingerprint(copy) == folder_fingerprint(checkpoint)


def test_folder_without_model_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here\n")
    with pytest.raises(FileNotFoundError):
        folder_fingerprint(tmp_path)


def test_file_digest_is_sha256_and_memoised(checkpoint: Path, private_cache: Path) -> None:
    weights = checkpoint / "model.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert file_digest(weights) == expected

    memo_file = private_cache / "fingerprints.json"
    memo = json.loads(memo_file.read_text())
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    assert memo[key] == expected

    # Prove the second call reads the memo instead of the file: plant a value it could not compute.
    memo[key] = "from-the-memo"
    memo_file.write_text(json.dumps(memo))
    assert file_digest(weights) == "from-the-memo"

    # A new mtime is a new key: the file is read again and the true digest comes back.
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert file_digest(weights) == expected


def test_unreadable_memo_is_recomputed(checkpoint: Path, private_cache: Path) -> None:
    weights = checkpoint / "model.safetensors"
    private_cache.mkdir()
    (private_cache / "fingerprints.json").write_text("{ torn")
    assert file_digest(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert json.loads((private_cache / "fingerprints.json").read_text())  # rewritten whole


def test_sampled_digest_of_a_big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink the limits so that a 64 KiB file takes the >2 GiB branch: a 1 KiB head, then four
    # 1 KiB blocks at offsets 0, step, 2*step, 3*step with step = (64 KiB - 1 KiB) // 4.
    monkeypatch.setattr(fp, "FULL_HASH_LIMIT", 4096)
    monkeypatch.setattr(fp, "HEAD_BYTES", 1024)
    monkeypatch.setattr(fp, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(fp, "SAMPLE_BLOCKS", 4)
    size = 64 * 1024
    step = (size - 1024) // 4
    path = tmp_path / "big.safetensors"
    original = bytes(range(256)) * (size // 256)
    mtime = [1_700_000_000_000_000_000]

    def digest_of(data: bytes) -> str:
        path.write_bytes(data)
        mtime[0] += 1_000_000_000  # a distinct mtime for every version: never a stale memo hit
        os.utime(path, ns=(mtime[0], mtime[0]))
        return file_digest(path)

    def flipped(offset: int) -> bytes:
        data = bytearray(original)
        data[offset] ^= 0xFF
        return bytes(data)

    base = digest_of(original)
    assert base != hashlib.sha256(original).hexdigest()  # the sampled branch, not a whole-file hash
    assert digest_of(original) == base  # stable: recomputed (new mtime) to the same value

    unsampled = step + 1024 + 100  # between the second and third sampled blocks
    assert digest_of(flipped(unsampled)) == base  # the documented price of sampling

    for sampled in (10, step + 5, 2 * step + 1023, 3 * step):  # head/first block, then each block
        assert digest_of(flipped(sampled)) != base, sampled

    # The size is part of the sampled digest.
    assert digest_of(original + b"\0" * 7) != base


def test_whole_file_hash_below_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    data = os.urandom(10_000)
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
