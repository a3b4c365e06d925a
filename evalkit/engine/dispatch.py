"""Run requests through a backend with the results store as a per-request cache.

Answers are written to the store batch by batch as they are computed, so a killed run loses at
most the batch in flight, and a rerun computes only what is missing. The backend is created
only if something is missing: a fully cached rerun never loads the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.engine.backend import Backend, OnBatch
from evalkit.engine.requests import (
    GenerateUntil,
    Loglikelihood,
    LoglikelihoodRolling,
    Request,
    RequestKind,
    Score,
    request_hash,
    request_key,
)
from evalkit.store import Store


@dataclass
class RunStats:
    total: int = 0  # distinct requests
    cached: int = 0
    computed: int = 0


def run_requests(requests: Sequence[Request], *, store: Store, fingerprint: str,
                 backend_factory: Callable[[], Backend], use_cache: bool = True,
                 progress: Callable[[int], None] | None = None,
                 on_total: Callable[[int], None] | None = None) -> tuple[list[Any], RunStats]:
    """Answers to ``requests`` in order, from the cache where possible."""
    hashes = [request_hash(r) for r in requests]
    unique: dict[str, Request] = dict(zip(hashes, requests))
    stats = RunStats(total=len(unique))
    answers: dict[str, Any] = store.cache_get_many(fingerprint, list(unique)) if use_cache else {}
    stats.cached = len(answers)
    todo = [h for h in unique if h not in answers]
    if on_total:
        on_total(len(todo))
    if todo:
        backend = backend_factory()
        try:
            by_kind: dict[RequestKind, list[str]] = {}
            for h in todo:
                by_kind.setdefault(unique[h].kind, []).append(h)
            for kind_hashes in by_kind.values():

                def write(indices: list[int], responses: list[Any], kind_hashes: list[str] = kind_hashes) -> None:
                    items = [(kind_hashes[i], request_key(unique[kind_hashes[i]]), resp)
                             for i, resp in zip(indices, responses)]
                    store.cache_put_many(fingerprint, items)
                    for (h, _, resp) in items:
                        answers[h] = resp
                    stats.computed += len(items)
                    if progress:
                        progress(len(items))

                answer(backend, [unique[h] for h in kind_hashes], write)
        finally:
            backend.close()
    return [answers[h] for h in hashes], stats


def answer(backend: Backend, requests: Sequence[Request], on_batch: OnBatch) -> None:
    """Send requests of one kind to the backend's method for that kind."""
    if not requests:
        return
    if len({r.kind for r in requests}) != 1:
        raise ValueError("answer() takes requests of one kind")
    if isinstance(requests[0], Loglikelihood):
        backend.loglikelihood([r for r in requests if isinstance(r, Loglikelihood)], on_batch)
    elif isinstance(requests[0], LoglikelihoodRolling):
        backend.loglikelihood_rolling([r for r in requests if isinstance(r, LoglikelihoodRolling)], on_batch)
    elif isinstance(requests[0], Score):
        backend.score([r for r in requests if isinstance(r, Score)], on_batch)
    else:
        backend.generate_until([r for r in requests if isinstance(r, GenerateUntil)], on_batch)
