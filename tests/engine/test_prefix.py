"""The shared-prefix path gives the plain path's log-likelihoods (≤ 1e-4, float32) and greedy flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.engine.hf import HFBackend
from evalkit.engine.prefix import MIN_SHARED, cluster_questions, group_questions
from evalkit.engine.requests import Loglikelihood
from tests.conftest import collect_responses

FEWSHOT = "".join(f"Question {i}: what is {i} plus {i}?\nA. {i}\nB. {2 * i}\nC. {3 * i}\nD. 0\nAnswer: B\n\n"
                  for i in range(1, 6))


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir: Path) -> tuple[Any, Any]:
    return (AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(tiny_model_dir))


def mmlu_like() -> list[Loglikelihood]:
    questions = [f"Question: which number is {w}?\nA. one\nB. two\nC. three\nD. four\nAnswer:"
                 for w in ("even", "odd", "prime", "largest", "smallest", "a square")]
    return [Loglikelihood(FEWSHOT + q, f" {c}") for q in questions for c in "ABCD"]


def hellaswag_like() -> list[Loglikelihood]:
    contexts = ["Making tea: A man boils water in a kettle. He", "Skiing: A woman stands at the top of a slope and",
                FEWSHOT + "Then the answer", "Short"]
    endings = [" pours it into a cup and adds a tea bag.", " falls over.", " walks away slowly, looking at the sky",
               " skis down the hill, turning left and right between the flags.", "\n\nNext question"]
    return [Loglikelihood(c, e) for c in contexts for e in endings]


def boundary_merges() -> list[Loglikelihood]:
    # Contexts that extend one another inside a word: the shorter one's last token does not exist
    # in the longer one's tokenization, so it must not be shared.
    base = FEWSHOT + "The word is unbeliev"
    return [Loglikelihood(base, "able"), Loglikelihood(base + "able", " indeed"),
            Loglikelihood(base + "ab", "le"), Loglikelihood(FEWSHOT + "Answer: ", "B"),
            Loglikelihood(FEWSHOT + "Answer:", " B")]


@pytest.mark.parametrize("make", [mmlu_like, hellaswag_like, boundary_merges])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_prefix_path_equals_plain_path(model_and_tokenizer: tuple[Any, Any], make: Any, batch_size: int) -> None:
    model, tokenizer = model_and_tokenizer
    requests = make()
    plain = collect_responses(HFBackend(model, tokenizer, batch_size=batch_size, prefix_cache=False).loglikelihood,
                              requests)
    shared = collect_responses(HFBackend(model, tokenizer, batch_size=batch_size, prefix_cache=True).loglikelihood,
                               requests)
    assert max(abs(a[0] - b[0]) for a, b in zip(plain, shared)) <= 1e-4
    assert [a[1] for a in plain] == [b[1] for b in shared]


def test_fewshot_block_is_shared_once_per_cluster(model_and_tokenizer: tuple[Any, Any]) -> None:
    _, tokenizer = model_and_tokenizer
    backend_pairs = []
    for r in mmlu_like():
        ctx = tokenizer.encode(r.context)
        whole = tokenizer.encode(r.context + r.continuation)
        backend_pairs.append((ctx, whole[len(ctx):]))
    clusters = cluster_questions(group_questions(backend_pairs))
    assert len(clusters) == 1
    shared, members = clusters[0]
    assert len(members) == 6 and shared >= MIN_SHARED
    assert shared >= len(tokenizer.encode(FEWSHOT)) - 1


def test_real_model_uses_prefix_path(default_model_dir: Path) -> None:
    from evalkit.engine.prefix import supports_prefix_cache

    model = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    assert supports_prefix_cache(model)
