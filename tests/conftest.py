"""Shared fixtures: an isolated evalkit home, a tiny random model, and the real default model.

Nothing here touches the network: HF_HUB_OFFLINE is set for the whole session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.config import Environment, set_environment

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["EVALKIT_PROGRESS"] = "0"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

# The tests are an edge too: in-process calls see the variables as each test sets them.
set_environment(lambda: Environment.from_environ(os.environ))


@pytest.fixture(scope="session")
def evalkit_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted-checkpoint cache for the session (converting the GGUF once costs ~10 s).

    Set EVALKIT_TEST_CACHE to reuse one across sessions while developing.
    """
    shared = os.environ.get("EVALKIT_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("evalkit-cache")


@pytest.fixture(autouse=True)
def _keep_installed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that calls ``evalkit.cli.main`` in-process installs the environment main read (fixed values);
    restored afterwards, so later tests see their own variables again."""
    import evalkit.config

    monkeypatch.setattr(evalkit.config, "_installed", evalkit.config._installed)


@pytest.fixture(autouse=True)
def evalkit_env(tmp_path: Path, evalkit_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own EVALKIT_HOME (so its own results store)."""
    home = tmp_path / "evalkit-home"
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    monkeypatch.setenv("EVALKIT_CACHE", str(evalkit_cache))
    return home


@pytest.fixture(scope="session")
def default_model_dir(evalkit_cache: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct, converted to an HF checkpoint."""
    os.environ["EVALKIT_CACHE"] = str(evalkit_cache)
    from evalkit.models.resolve import resolve_model

    ref = resolve_model("smollm2-135m-instruct")
    assert ref.path is not None
    return ref.path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> Path:
    """A 2-layer random Llama with SmolLM2's real tokenizer and chat template (fast, real weights)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # sharper logits than the default init, so greedy choices are not near-ties
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``evalkit`` in a fresh process, as a user would."""
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def save_scripted_model(tiny_model_dir: Path, token_ids: list[int], out: Path) -> Path:
    """Save the tiny model with an untied output layer that makes greedy decoding follow ``token_ids``.

    The output row of each scripted token is the input embedding of the token before it (the first
    follows the last), so once decoding reaches the script it writes it token by token; every
    other row is the tied embedding, as before. ``token_ids`` must not repeat a token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert len(set(token_ids)) == len(token_ids), "the script must not repeat a token"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    embeddings = model.get_input_embeddings().weight.detach()
    head = torch.nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=False)
    with torch.no_grad():
        head.weight.copy_(embeddings)
        for before, after in zip(token_ids, token_ids[1:] + token_ids[:1]):
            head.weight[after] = embeddings[before]
    model.lm_head = head
    model.config.tie_word_embeddings = False
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def collect_responses(method: Any, requests: list) -> list:
    """Call a backend method (loglikelihood, generate_until, ...) and return its answers in order."""
    out: list = [None] * len(requests)

    def on_batch(idx: list[int], resps: list) -> None:
        for i, r in zip(idx, resps):
            out[i] = r

    method(requests, on_batch)
    assert all(o is not None for o in out)
    return out


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL server for the session (see tests/pg_server.py); skipped where it is not installed."""
    from tests.pg_server import SKIP_REASON, Server, find_bin

    bin_dir = find_bin()
    if bin_dir is None:
        pytest.skip(SKIP_REASON)
    server = Server(bin_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    url = postgres_server.new_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A new, empty results store on each backend: a SQLite file's path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "evalkit.db"
    url: str = request.getfixturevalue("postgres_url")
    return url
