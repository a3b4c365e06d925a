"""Continuous-batching greedy decoding gives the texts of one-at-a-time model.generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.engine.hf import HFBackend
from evalkit.engine.requests import GenerateUntil
from tests.conftest import collect_responses

PROMPTS = ["Question: Tom has 3 apples and buys 2 more. How many?\nAnswer:", "Once upon a time",
           "def fib(n):\n", "The capital of France is", "A", "Translate to French: good morning\n",
           "List three colours:\n1.", "Question: 12 * 12 = ?\nAnswer: 144\n\nQuestion: 7 + 8 = ?\nAnswer:"]


@pytest.fixture(scope="module")
def model_and_tokenizer(default_model_dir: Path) -> tuple[Any, Any]:
    # The real model: a random tiny one degenerates into repeating one token, which would not
    # exercise rows that stop at different steps.
    return (AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(default_model_dir))


@pytest.fixture(scope="module")
def mixed_requests(model_and_tokenizer: tuple[Any, Any]) -> list[GenerateUntil]:
    reference = HFBackend(*model_and_tokenizer, batch_size=1, continuous_decoding=False)
    free = collect_responses(reference.generate_until, [GenerateUntil(p, (), 16) for p in PROMPTS])
    requests = []
    for n, (prompt, text) in enumerate(zip(PROMPTS, free)):
        # A stop string from inside each free generation, so that rows stop at different steps.
        words = text.split()
        stop = (words[min(n % 4 + 1, len(words) - 1)],) if len(words) > 2 else ("\n\n",)
        requests.append(GenerateUntil(prompt, stop, max_gen_toks=6 + 2 * n))
    return requests


@pytest.fixture(scope="module")
def one_by_one(model_and_tokenizer: tuple[Any, Any], mixed_requests: list[GenerateUntil]) -> list[str]:
    return collect_responses(HFBackend(*model_and_tokenizer, batch_size=1, continuous_decoding=False).generate_until,
                             mixed_requests)


@pytest.mark.parametrize("batch_size", [3, 8])
def test_continuous_equals_one_at_a_time(model_and_tokenizer: tuple[Any, Any], mixed_requests: list[GenerateUntil],
                                         one_by_one: list[str], batch_size: int) -> None:
    model, tokenizer = model_and_tokenizer
    backend = HFBackend(model, tokenizer, batch_size=batch_size, continuous_decoding=True)
    continuous = collect_responses(backend.generate_until, mixed_requests)
    assert continuous == one_by_one
    assert len({len(t) for t in one_by_one}) > 2  # rows really stopped at different points


@pytest.mark.parametrize(("solo_prefill", "spare_columns"), [(0, 1), (10_000, 0)])
def test_prefill_and_cache_growth_variants(model_and_tokenizer: tuple[Any, Any], mixed_requests: list[GenerateUntil],
                                           one_by_one: list[str], monkeypatch: pytest.MonkeyPatch,
                                           solo_prefill: int, spare_columns: int) -> None:
    """Prompts prefilled one per pass or padded together, and cache slots with no spare column
    (every step compacts or grows them) or one: the same texts."""
    from evalkit.engine import decode

    monkeypatch.setattr(decode, "SOLO_PREFILL", solo_prefill)
    monkeypatch.setattr(decode, "SPARE_COLUMNS", spare_columns)
    backend = HFBackend(*model_and_tokenizer, batch_size=4, continuous_decoding=True)
    assert collect_responses(backend.generate_until, mixed_requests) == one_by_one
