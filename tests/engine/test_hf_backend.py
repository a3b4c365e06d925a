"""The transformers backend on real (tiny, random) weights: batch-size invariance and agreement
with a direct forward pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.engine.hf import HFBackend
from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling
from tests.conftest import collect_responses

CONTEXTS = ["The capital of France is", "Question: what is 2+2?\nAnswer:", "Once upon a time, ",
            "def add(a, b):\n    return", "A", "The following are multiple choice questions.\n\nQ: x\nAnswer:"]
CONTINUATIONS = [" Paris", " 4", "there was a dragon", " a + b", " B", " C", "\n\nNext"]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir: Path) -> tuple[Any, Any]:
    return (AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(tiny_model_dir))


def backend(model_and_tokenizer: tuple[Any, Any], batch_size: int) -> HFBackend:
    model, tokenizer = model_and_tokenizer
    return HFBackend(model, tokenizer, batch_size=batch_size)


def test_loglikelihood_independent_of_batch_size(model_and_tokenizer: tuple[Any, Any]) -> None:
    requests = [Loglikelihood(c, k) for c in CONTEXTS for k in CONTINUATIONS]
    one = collect_responses(backend(model_and_tokenizer, 1).loglikelihood, requests)
    many = collect_responses(backend(model_and_tokenizer, 32).loglikelihood, requests)
    assert max(abs(a[0] - b[0]) for a, b in zip(one, many)) <= 1e-4
    assert [a[1] for a in one] == [b[1] for b in many]


def test_rolling_independent_of_batch_size_and_window(model_and_tokenizer: tuple[Any, Any]) -> None:
    texts = [c + k for c in CONTEXTS for k in CONTINUATIONS[:3]]
    requests = [LoglikelihoodRolling(t) for t in texts]
    one = collect_responses(backend(model_and_tokenizer, 1).loglikelihood_rolling, requests)
    many = collect_responses(backend(model_and_tokenizer, 32).loglikelihood_rolling, requests)
    assert max(abs(a[0] - b[0]) for a, b in zip(one, many)) <= 1e-4
    assert [a[1] for a in one] == [b[1] for b in many]


def test_generation_independent_of_batch_size(model_and_tokenizer: tuple[Any, Any]) -> None:
    requests = [GenerateUntil(c, ("\n\n",), max_gen_toks=12) for c in CONTEXTS * 3]
    one = collect_responses(backend(model_and_tokenizer, 1).generate_until, requests)
    many = collect_responses(backend(model_and_tokenizer, 32).generate_until, requests)
    assert one == many
    assert any(t for t in one)


def test_loglikelihood_equals_direct_forward(model_and_tokenizer: tuple[Any, Any]) -> None:
    model, tokenizer = model_and_tokenizer
    request = Loglikelihood("The capital of France is", " Paris")
    ours = collect_responses(backend(model_and_tokenizer, 4).loglikelihood, [request])
    ctx = tokenizer.encode("The capital of France is")
    whole = tokenizer.encode("The capital of France is Paris")
    cont = whole[len(ctx):]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([whole[:-1]])).logits[0], dim=-1)
    direct = sum(float(logprobs[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
    assert abs(ours[0][0] - direct) <= 1e-5


def test_stop_strings_cut_each_sequence(model_and_tokenizer: tuple[Any, Any]) -> None:
    generate = backend(model_and_tokenizer, 2).generate_until
    free = collect_responses(generate, [GenerateUntil("Once upon a time, ", (), 16)])[0]
    assert len(free) > 2
    stop = free[1:3]
    cut = collect_responses(generate, [GenerateUntil("Once upon a time, ", (stop,), 16)])[0]
    assert stop not in cut
    assert free.startswith(cut)
