"""The judge client against a fault-injecting fake endpoint: retries, bounds, counts, cache, budget."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.judge.client import (
    BudgetExhausted,
    JudgeUnavailable,
    OpenAIJudgeClient,
    RetryPolicy,
    judge_fingerprint,
    parse_judge_spec,
    probe,
    resolve_api_key,
)
from evalkit.judge.interfaces import JudgeRequest
from evalkit.store import Store
from tests.judge_infra.fake_endpoint import SLOW_S, FaultyEndpoint

# Small numbers keep the test fast; the shape (attempts, total time, timeout) is the real policy's.
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=2.0, total_s=30.0, timeout_s=0.5)


def _request(prompt: str) -> JudgeRequest:
    return JudgeRequest(messages=(("system", "You are a judge."), ("user", prompt)), max_tokens=16)


def _client(endpoint: FaultyEndpoint, store: Store, *, model: str = "judge-model", version: str = "v1",
            policy: RetryPolicy = FAST, concurrency: int = 3, max_requests: int | None = None,
            sleeps: list[float] | None = None) -> OpenAIJudgeClient:
    def record(seconds: float) -> None:  # no real waiting: the delays are checked, not slept
        if sleeps is not None:
            sleeps.append(seconds)

    return OpenAIJudgeClient(endpoint.base_url, model, "EMPTY", store=store, prompt_version=version,
                             concurrency=concurrency, policy=policy, max_requests=max_requests,
                             rng=random.Random(0), sleep=record)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "judge.db") as s:
        yield s


def test_survives_every_fault_with_exact_counts(store: Store) -> None:
    script = {"p0": ["429"], "p1": ["500", "503"], "p2": ["garbage", "nochoices"], "p3": ["slow"], "p4": ["drop"],
              "p5": []}
    sleeps: list[float] = []
    with FaultyEndpoint(script) as endpoint:
        client = _client(endpoint, store, sleeps=sleeps)
        texts = client.complete_many([_request(p) for p in script])
        assert texts == [f"judged: {p}" for p in script]
        # Each prompt was sent once per fault, plus the answered attempt: nothing more.
        assert dict(endpoint.received) == {p: len(f) + 1 for p, f in script.items()}
    assert client.stats.calls == 6 and client.stats.cached == 0
    assert client.stats.retries == 7
    assert client.stats.failures == {"429": 1, "500": 1, "503": 1, "unreadable body": 2, "timeout": 1,
                                     "connection error": 1}
    assert 1.0 in sleeps  # the 429's Retry-After was honoured
    assert all(0.0 <= s <= FAST.max_delay_s for s in sleeps)


def test_gives_up_after_max_attempts_in_one_line(store: Store) -> None:
    with FaultyEndpoint(always="500") as endpoint:
        client = _client(endpoint, store, concurrency=1)
        with pytest.raises(JudgeUnavailable, match=r"500.*gave up after 4 attempts.*rerun to resume") as caught:
            client.complete_many([_request("p")])
        assert endpoint.received["p"] == FAST.max_attempts
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2


def test_gives_up_when_the_wait_would_pass_the_time_bound(store: Store) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=5.0, total_s=0.5, timeout_s=0.5)
    with FaultyEndpoint(always="429") as endpoint:  # Retry-After: 1 > what is left of 0.5 s
        with pytest.raises(JudgeUnavailable, match="gave up after 1 attempts"):
            _client(endpoint, store, policy=policy).complete_many([_request("p")])
        assert endpoint.received["p"] == 1


def test_slow_answers_are_timeouts_and_bounded(store: Store) -> None:
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.1, total_s=30.0, timeout_s=0.3)
    with FaultyEndpoint(always="slow") as endpoint:
        with pytest.raises(JudgeUnavailable, match="timeout"):
            _client(endpoint, store, policy=policy).complete_many([_request("p")])
        assert endpoint.received["p"] == 2
    assert SLOW_S > policy.timeout_s


def test_a_client_error_is_not_retried(store: Store) -> None:
    with FaultyEndpoint(always="400") as endpoint:
        with pytest.raises(UserError, match="answered 400") as caught:
            _client(endpoint, store).complete_many([_request("p")])
        assert endpoint.received["p"] == 1
    assert not isinstance(caught.value, JudgeUnavailable)


def test_cache_same_judgment_no_call_other_judge_new_calls(store: Store) -> None:
    prompts = ["q1", "q2", "q3"]
    requests = [_request(p) for p in prompts]
    with FaultyEndpoint() as endpoint:
        first = _client(endpoint, store)
        assert first.complete_many(requests) == [f"judged: {p}" for p in prompts]
        assert (first.stats.calls, first.stats.cached) == (3, 0)

        rerun = _client(endpoint, store)  # a new process would see the same store
        assert rerun.complete_many(requests) == [f"judged: {p}" for p in prompts]
        assert (rerun.stats.calls, rerun.stats.cached) == (0, 3)
        assert sum(endpoint.received.values()) == 3

        other_model = _client(endpoint, store, model="another-judge")
        other_model.complete_many(requests)
        other_version = _client(endpoint, store, version="v2")
        other_version.complete_many(requests)
        other_sampling = _client(endpoint, store)
        other_sampling.complete_many([JudgeRequest(r.messages, temperature=0.7, max_tokens=16) for r in requests])
        assert [c.stats.calls for c in (other_model, other_version, other_sampling)] == [3, 3, 3]
        assert sum(endpoint.received.values()) == 12
    # The fingerprint is the endpoint and the model, as for any endpoint in the store.
    assert first.fingerprint == judge_fingerprint(endpoint.base_url, "judge-model") != other_model.fingerprint
    # Same judge, three keys per prompt: prompt v1, prompt v2, v1 sampled.
    assert store.cache_count(first.fingerprint) == 9 and store.cache_count(other_model.fingerprint) == 3


def test_duplicate_requests_in_one_batch_make_one_call(store: Store) -> None:
    with FaultyEndpoint() as endpoint:
        client = _client(endpoint, store)
        assert client.complete_many([_request("same"), _request("same")]) == ["judged: same"] * 2
        assert endpoint.received["same"] == 1


def test_max_requests_refuses_beyond_the_budget_and_keeps_what_was_judged(store: Store) -> None:
    requests = [_request(f"q{i}") for i in range(5)]
    with FaultyEndpoint() as endpoint:
        client = _client(endpoint, store, max_requests=2, concurrency=1)
        with pytest.raises(BudgetExhausted, match=r"--max-requests 2: budget spent \(2 judge calls made\); 3 more"):
            client.complete_many(requests)
        assert sum(endpoint.received.values()) == 2
        assert store.cache_count(client.fingerprint) == 2  # paid-for judgments are kept

        resumed = _client(endpoint, store, max_requests=3)
        assert resumed.complete_many(requests) == [f"judged: q{i}" for i in range(5)]
        assert (resumed.stats.calls, resumed.stats.cached) == (3, 2)
        assert sum(endpoint.received.values()) == 5


def test_probe_lists_models_or_says_why_not() -> None:
    with FaultyEndpoint(models=("m1", "m2")) as endpoint:
        assert probe(endpoint.base_url, "EMPTY") == ["m1", "m2"]
    with FaultyEndpoint(always="401") as endpoint:
        with pytest.raises(UserError, match="refused the API key"):
            probe(endpoint.base_url, "bad")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match=rf"judge http://127.0.0.1:{port}/v1: endpoint unreachable") as caught:
        probe(f"http://127.0.0.1:{port}/v1", "EMPTY", timeout_s=2)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("spec", "expected"), [
    ("openai:http://127.0.0.1:8000/v1#judge", ("openai", "http://127.0.0.1:8000/v1", "judge")),
    ("openai:https://api.example.com/v1/#gpt-x", ("openai", "https://api.example.com/v1", "gpt-x")),
    ("local:smollm2-135m-instruct", ("local", None, "smollm2-135m-instruct")),
])
def test_judge_specs(spec: str, expected: tuple[str, str | None, str]) -> None:
    parsed = parse_judge_spec(spec)
    assert (parsed.kind, parsed.base_url, parsed.model) == expected


@pytest.mark.parametrize("spec", ["openai:http://x/v1", "openai:#m", "local:", "gpt-4", "openai:ftp://x#m"])
def test_bad_judge_specs_are_one_line(spec: str) -> None:
    with pytest.raises(UserError, match="expected openai:<base_url>#<model>"):
        parse_judge_spec(spec)


def test_api_key_rules() -> None:
    assert resolve_api_key("https://api.example.com/v1", "sk-1", "OPENAI_API_KEY") == "sk-1"
    assert resolve_api_key("http://127.0.0.1:8000/v1", None, "OPENAI_API_KEY") == "EMPTY"  # loopback: no key needed
    with pytest.raises(UserError, match="no API key: MY_KEY is not set"):
        resolve_api_key("https://api.example.com/v1", None, "MY_KEY")


def test_a_hard_failure_keeps_the_judgments_already_paid_for(store: Store) -> None:
    script = {"ok1": ["slow"], "bad": ["400-last"], "ok2": []}  # ok1 is still in flight when bad fails
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.1, total_s=30.0, timeout_s=SLOW_S + 2)
    with FaultyEndpoint(script) as endpoint:
        client = _client(endpoint, store, policy=policy, concurrency=3)
        with pytest.raises(UserError, match="answered 400"):
            client.complete_many([_request(p) for p in script])
        answered = endpoint.received["ok1"] + endpoint.received["ok2"]
    assert answered == 2 and store.cache_count(client.fingerprint) == 2  # ok1 was waited for, both kept


def test_each_judgment_is_stored_as_it_arrives_not_at_the_end_of_the_batch(store: Store) -> None:
    """A run killed while a slow call is in flight has already kept the fast ones (resume pays once)."""
    import threading

    script = {"fast": [], "slow": ["slow"]}
    policy = RetryPolicy(max_attempts=1, base_delay_s=0.01, max_delay_s=0.1, total_s=30.0, timeout_s=SLOW_S + 2)
    with FaultyEndpoint(script) as endpoint:
        client = _client(endpoint, store, policy=policy, concurrency=2)
        worker = threading.Thread(target=client.complete_many, args=([_request(p) for p in script],))
        worker.start()
        deadline = time.monotonic() + SLOW_S
        while store.cache_count(client.fingerprint) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        stored_while_slow_in_flight = store.cache_count(client.fingerprint)
        worker.join(timeout=SLOW_S + 5)
    assert stored_while_slow_in_flight == 1 and store.cache_count(client.fingerprint) == 2
