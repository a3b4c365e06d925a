"""The shared-prefix path gives the plain path's log-likelihoods (≤ 1e-4, float32) and greedy flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.engine.hf import HFBackend
from evalkit.engine.prefix import MIN_SHARED, PrefixScorer, Question, _pack, cluster_questions, group_questions
from evalkit.engine.requests import Loglikelihood
from evalkit.engine.windows import encode_pair
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


def fewshot_long_answers() -> list[Loglikelihood]:
    # A shared few-shot block (prefix cache) under questions whose choices are several tokens
    # long, some sharing leading tokens and some of one token: cache, tree mask and padding together.
    questions = [f"Question: describe the number {n}.\nAnswer:" for n in (3, 14, 159)]
    answers = [" It is odd and small.", " It is odd.", " even", " It is a prime number, larger than ten.", " ?"]
    return [Loglikelihood(FEWSHOT + q, a) for q in questions for a in answers]


@pytest.mark.parametrize("make", [mmlu_like, hellaswag_like, boundary_merges, fewshot_long_answers])
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


@pytest.mark.parametrize("max_row", [1, 12])
def test_questions_split_over_rows_score_the_same(model_and_tokenizer: tuple[Any, Any], max_row: int) -> None:
    """A question whose packed row would pass ``max_row`` tokens is spread over several rows
    (at least one choice each), with the same results."""
    model, tokenizer = model_and_tokenizer
    requests = hellaswag_like() + fewshot_long_answers()
    backend = HFBackend(model, tokenizer, batch_size=4, prefix_cache=False)
    plain = collect_responses(backend.loglikelihood, requests)
    pairs = [encode_pair(backend.encode, r.context, r.continuation) for r in requests]
    rows = [row for q in group_questions(pairs) for row in _pack(q, 0, max_row)]
    assert len(rows) > len(group_questions(pairs))  # really split
    shared: dict[int, tuple[float, bool]] = {}
    PrefixScorer(model, 4, max_row).score(pairs, lambda idx, out: shared.update(zip(idx, out)))
    assert max(abs(a[0] - shared[i][0]) for i, a in enumerate(plain)) <= 1e-4
    assert [a[1] for a in plain] == [shared[i][1] for i in range(len(plain))]


def test_packed_row_layout() -> None:
    """Choices follow the context side by side; each is read where its own sequence would be."""
    row = _pack(Question([7, 8, 9], [(0, [1]), (1, [2, 3, 4]), (2, [5, 6])]), 1, 100)[0]
    assert row.tokens == [8, 9, 2, 3, 5] and row.segments == [(2, 4), (4, 5)]
    # (position whose logits predict the token, token, request)
    assert row.reads() == [(1, 1, 0), (1, 2, 1), (2, 3, 1), (3, 4, 1), (1, 5, 2), (4, 6, 2)]


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
