"""Run requests through a backend with the results store as a per-request cache.

Answers are written to the store batch by batch as they are computed, so a killed run loses at
most the batch in flight, and a rerun computes only what is missing. The backend is created
only if something is missing: a fully cached rerun never loads the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.engine.requests import Request, request_hash, request_key
from evalkit.store import Store

METHODS = {"loglikelihood": "loglikelihood", "loglikelihood_rolling": "loglikelihood_rolling",
           "generate_until": "generate_until"}


@dataclass
class RunStats:
    total: int = 0  # distinct requests
    cached: int = 0
    computed: int = 0


def run_requests(requests: Sequence[Request], *, store: Store, fingerprint: str,
                 backend_factory: Callable[[], Any], use_cache: bool = True,
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
        by_kind: dict[str, list[str]] = {}
        for h in todo:
            by_kind.setdefault(unique[h].kind, []).append(h)
        for kind, kind_hashes in by_kind.items():
            batch_requests = [unique[h] for h in kind_hashes]

            def write(indices: list[int], responses: list[Any], kind_hashes: list[str] = kind_hashes) -> None:
                items = [(kind_hashes[i], request_key(unique[kind_hashes[i]]), resp)
                         for i, resp in zip(indices, responses)]
                store.cache_put_many(fingerprint, items)
                for (h, _, resp) in items:
                    answers[h] = resp
                stats.computed += len(items)
                if progress:
                    progress(len(items))

            getattr(backend, METHODS[kind])(batch_requests, write)
    return [answers[h] for h in hashes], stats
