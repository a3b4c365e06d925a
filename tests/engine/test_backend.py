"""The backend contract: which class serves which model, what it can answer (known without loading
anything), and the dispatcher sending each request kind to its method."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from evalkit.engine.backend import OnBatch, backend_class
from evalkit.engine.dispatch import run_requests
from evalkit.engine.generation import left_padded
from evalkit.engine.hf import HFBackend
from evalkit.engine.openai_backend import OpenAIBackend
from evalkit.engine.requests import (
    GenerateUntil,
    Loglikelihood,
    LoglikelihoodRolling,
    RequestKind,
    Sampling,
)
from evalkit.models.resolve import ModelRef, resolve_model
from evalkit.store import Store
from evalkit.suites.schema import GenerationSettings


def test_each_model_kind_has_its_backend_class(tiny_model_dir: Path) -> None:
    assert backend_class(resolve_model(str(tiny_model_dir))) is HFBackend
    endpoint = backend_class(resolve_model("openai:http://127.0.0.1:9/v1#m"))
    assert endpoint is OpenAIBackend
    assert endpoint.request_kinds == {"generate_until"}
    assert HFBackend.request_kinds == {"loglikelihood", "loglikelihood_rolling", "generate_until"}


class RecordingBackend:
    """Answers every request with its kind and arguments, and records what it was asked."""

    request_kinds: ClassVar[frozenset[RequestKind]] = frozenset(
        {"loglikelihood", "loglikelihood_rolling", "generate_until"})
    description: ClassVar[str] = "a test double"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.closed = False

    @classmethod
    def load(cls, ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> RecordingBackend:
        return cls()

    @classmethod
    def chat_formatter(cls, ref: ModelRef) -> Any:
        return lambda messages: ""

    def _answer(self, name: str, requests: Sequence[Any], on_batch: OnBatch) -> None:
        self.calls.append((name, len(requests)))
        on_batch(list(range(len(requests))), [[name, *r.arguments[:1]] for r in requests])

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_batch: OnBatch) -> None:
        self._answer("loglikelihood", requests, on_batch)

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_batch: OnBatch) -> None:
        self._answer("loglikelihood_rolling", requests, on_batch)

    def generate_until(self, requests: Sequence[GenerateUntil], on_batch: OnBatch) -> None:
        self._answer("generate_until", requests, on_batch)

    def close(self) -> None:
        self.closed = True


def test_the_dispatcher_calls_each_kinds_method_and_closes_the_backend(tmp_path: Path) -> None:
    requests = [Loglikelihood("a", " b"), GenerateUntil("c", ("\n",)), LoglikelihoodRolling("d"),
                Loglikelihood("e", " f"), Loglikelihood("a", " b")]
    backends: list[RecordingBackend] = []

    def factory() -> RecordingBackend:
        backends.append(RecordingBackend())
        return backends[-1]

    store = Store(tmp_path / "store.db")
    answers, stats = run_requests(requests, store=store, fingerprint="fp", backend_factory=factory)
    assert answers == [["loglikelihood", "a"], ["generate_until", "c"], ["loglikelihood_rolling", "d"],
                       ["loglikelihood", "e"], ["loglikelihood", "a"]]
    assert sorted(backends[0].calls) == [("generate_until", 1), ("loglikelihood", 2), ("loglikelihood_rolling", 1)]
    assert backends[0].closed
    assert (stats.total, stats.cached, stats.computed) == (4, 0, 4)
    # A fully cached rerun creates no backend at all.
    again, stats = run_requests(requests, store=store, fingerprint="fp", backend_factory=factory)
    assert again == answers and len(backends) == 1 and stats.cached == 4
    store.close()


def test_left_padded_rows_keep_their_own_positions() -> None:
    ids, mask, positions = left_padded([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert positions.tolist() == [[0, 1, 2], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("gen", [GenerationSettings(), GenerationSettings(temperature=0.7, top_p=0.9)])
def test_sampling_from_generation_settings(gen: GenerationSettings) -> None:
    assert Sampling.from_generation(gen, 3) == Sampling(gen.temperature, gen.top_p, 3)
