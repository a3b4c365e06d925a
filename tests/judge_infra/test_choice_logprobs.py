"""The judge client's choice path (verdict-first): a real model's first-token probabilities through
an OpenAI-compatible server, the fallback when a server gives none, and the shared retries and budget."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.judge.client import BudgetExhausted, OpenAIJudgeClient, RetryPolicy, choice_request_hash
from evalkit.judge.interfaces import ChoiceRequest
from evalkit.store import Store
from tests.judge_infra.fake_endpoint import FaultyEndpoint
from tests.judge_infra.logprob_endpoint import LogprobEndpoint

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0, total_s=30.0, timeout_s=30.0)
NO_LOGPROBS_LINE = ("the judge returns no log-probabilities; verdicts are read from its text with the "
                    "evalkit-judge-v1 prompt")
PROMPTS = ["Which answer is better? Say A, B or C.", "Compare the two answers.", "A or B?"]
# Tokens the letter model makes likely after the generation prompt: both spellings of A (so the merge
# is exercised), B, and a lower-case a (which must not count as A). C is left alone: not in the top 20.
BOOSTED = {"A": 1.0, "ĠA": 0.97, "B": 0.94, "a": 0.99}


def _request(prompt: str, choices: tuple[str, ...] = ("A", "B", "C")) -> ChoiceRequest:
    return ChoiceRequest(messages=(("system", "You are a judge."), ("user", prompt)), choices=choices)


def _client(base_url: str, store: Store, *, sleeps: list[float] | None = None, concurrency: int = 2,
            max_requests: int | None = None) -> OpenAIJudgeClient:
    return OpenAIJudgeClient(base_url, "tiny-judge", "EMPTY", store=store, prompt_version="evalkit-judge-v2",
                             concurrency=concurrency, policy=FAST, max_requests=max_requests,
                             rng=random.Random(0), sleep=(sleeps.append if sleeps is not None else lambda s: None))


@pytest.fixture(scope="module")
def letter_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama with an untied output layer whose rows for BOOSTED's tokens follow the
    input embedding of the generation prompt's last token, so those tokens are among the likeliest
    first tokens (as in conftest.save_scripted_model); every other row is the tied embedding."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True)
    last = tokenizer(text, add_special_tokens=False)["input_ids"][-1]
    model: Any = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    embeddings = model.get_input_embeddings().weight.detach()
    head = torch.nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=False)
    with torch.no_grad():
        head.weight.copy_(embeddings)
        for token, scale in BOOSTED.items():
            head.weight[tokenizer.convert_tokens_to_ids(token)] = embeddings[last] * scale
    model.lm_head = head
    model.config.tie_word_embeddings = False
    out = tmp_path_factory.mktemp("letter-llama")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "judge.db") as s:
        yield s


def _by_hand(model_dir: Path, request: ChoiceRequest) -> tuple[tuple[float, ...], dict[str, list[str]]]:
    """The choices' log-probabilities computed here, independently of the server and the client:
    log_softmax of the last position's logits (math, float64), the 20 likeliest tokens, and for each
    choice the log-sum-exp over those whose stripped text is the choice. Also the top tokens per choice."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    messages = [{"role": role, "content": content} for role, content in request.messages]
    ids = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer(ids, add_special_tokens=False)["input_ids"]])).logits[0, -1].tolist()
    peak = max(logits)
    log_z = peak + math.log(sum(math.exp(v - peak) for v in logits))
    top20 = sorted(range(len(logits)), key=lambda i: logits[i], reverse=True)[:20]
    spellings: dict[str, list[str]] = {c: [] for c in request.choices}
    values: dict[str, list[float]] = {c: [] for c in request.choices}
    for token_id in top20:
        text = str(tokenizer.decode([token_id], clean_up_tokenization_spaces=False))
        if text.strip() in values:
            spellings[text.strip()].append(text)
            values[text.strip()].append(logits[token_id] - log_z)
    expected = tuple(math.log(sum(math.exp(v) for v in values[c])) if values[c] else -math.inf
                     for c in request.choices)
    return expected, spellings


def test_choice_logprobs_are_the_models_first_token_probabilities(letter_model_dir: Path, tmp_path: Path) -> None:
    requests = [_request(p) for p in PROMPTS]
    expected = [_by_hand(letter_model_dir, r) for r in requests]
    # The model does what the test needs: both spellings of A, and B, in the top 20; C not at all.
    for _, spellings in expected:
        assert sorted(spellings["A"]) == [" A", "A"] and spellings["B"] == ["B"] and spellings["C"] == []
    with LogprobEndpoint(letter_model_dir) as endpoint:
        with Store(tmp_path / "judge.db") as store:
            client = _client(endpoint.base_url, store)
            assert client.logprobs_supported is None
            got = client.choice_logprobs(requests)
            assert got is not None and client.logprobs_supported is True
            for values, (want, _) in zip(got, expected):
                assert values[:2] == pytest.approx(want[:2], abs=1e-5)
                assert values[2] == want[2] == -math.inf
                assert values[0] > max(values[1], math.log(0.01))  # "A" + " A" merged: the likeliest verdict
            assert endpoint.chat_requests == 3 and (client.stats.calls, client.stats.cached) == (3, 0)
            assert {(b["max_tokens"], b["temperature"], b["logprobs"], b["top_logprobs"])
                    for b in endpoint.bodies} == {(1, 0.0, True, 20)}

            assert client.choice_logprobs(requests) == got  # a rerun makes no call
            assert endpoint.chat_requests == 3 and client.stats.cached == 3
            # Stored as strict JSON (no Infinity, which strict readers refuse): -inf is null.
            stored = store.cache_get_many(client.fingerprint, [choice_request_hash(requests[0], "evalkit-judge-v2")])
            assert next(iter(stored.values()))[2] is None
        with Store(tmp_path / "judge.db") as reopened:  # a new process: new client, same store file
            again = _client(endpoint.base_url, reopened)
            assert again.choice_logprobs(list(reversed(requests))) == list(reversed(got))  # -inf survived
            assert endpoint.chat_requests == 3 and (again.stats.calls, again.stats.cached) == (0, 3)
            # Other choices are another question: a new call.
            (ab,) = again.choice_logprobs([_request(PROMPTS[0], ("B", "A"))]) or [()]
            assert ab == pytest.approx((got[0][1], got[0][0]), abs=1e-9) and endpoint.chat_requests == 4


def test_a_server_without_logprobs_is_probed_once_said_once_and_not_cached(
        store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with FaultyEndpoint() as endpoint:  # answers text only, as transformers serve does
        client = _client(endpoint.base_url, store)
        assert client.choice_logprobs([_request(p) for p in PROMPTS]) is None
        assert client.logprobs_supported is False
        assert client.choice_logprobs([_request("another question")]) is None
        assert sum(endpoint.received.values()) == 1 and client.stats.calls == 1
    err = capsys.readouterr().err
    assert err.count(NO_LOGPROBS_LINE) == 1 and err.count("\n") == 1
    assert store.cache_count(client.fingerprint) == 0


SCRIPTED_TOP = [("A", -0.5), (" A", -1.5), ("A\n", -3.0), ("a", -2.0), ("B", -2.5), ("b ", -4.0)]


def test_retries_on_the_logprob_path_then_merge_whitespace_variants(store: Store) -> None:
    sleeps: list[float] = []
    with FaultyEndpoint({"p": ["429", "500"]}, top_logprobs=SCRIPTED_TOP) as endpoint:
        client = _client(endpoint.base_url, store, sleeps=sleeps)
        (values,) = client.choice_logprobs([_request("p")]) or [()]
        assert endpoint.received["p"] == 3
    # By hand: A = log(e^-0.5 + e^-1.5 + e^-3.0) = -0.5 + log(1 + e^-1 + e^-2.5); "a" is not A; no C.
    assert values[0] == pytest.approx(-0.5 + math.log(1 + math.exp(-1) + math.exp(-2.5)), abs=1e-12)
    assert values[1:] == (-2.5, -math.inf)
    assert (client.stats.calls, client.stats.retries) == (1, 2) and client.stats.failures == {"429": 1, "500": 1}
    assert sleeps[0] == 1.0  # the 429's Retry-After was honoured


def test_the_budget_counts_choice_calls_and_keeps_what_fitted(store: Store) -> None:
    requests = [_request(f"q{i}") for i in range(3)]
    with FaultyEndpoint(top_logprobs=SCRIPTED_TOP) as endpoint:
        client = _client(endpoint.base_url, store, max_requests=2, concurrency=1)
        with pytest.raises(BudgetExhausted, match=r"budget spent \(2 judge calls made\); 1 more"):
            client.choice_logprobs(requests)
        assert sum(endpoint.received.values()) == 2 and store.cache_count(client.fingerprint) == 2
        resumed = _client(endpoint.base_url, store, max_requests=1)
        assert len(resumed.choice_logprobs(requests) or []) == 3
        assert (resumed.stats.calls, resumed.stats.cached) == (1, 2) and sum(endpoint.received.values()) == 3
