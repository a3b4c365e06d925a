"""Requests to models other than the one a run evaluates, answered and cached like the run's own.

An evaluator may need a second model: the reference policy of a DPO model's implicit reward, the reward
model that scores a model's generations. :class:`OtherModels` (the run hands one to evaluators in their
:class:`~evalkit.evaluator.TaskContext`) answers requests for such a model through
:func:`~evalkit.engine.dispatch.run_requests` on the run's results store, under that model's
fingerprint: a rerun computes nothing, a killed run resumes, and answers the store already holds for the
model (from its own evaluation on the same requests) are reused. The model is loaded with the run's
device, dtype and batch size, only if something is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.engine.backend import Backend
    from evalkit.engine.dispatch import RunStats
    from evalkit.engine.requests import Request
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store


@dataclass(frozen=True)
class OtherModels:
    """Answers requests for any resolved model through the store at ``store_path`` (module doc)."""

    store_path: str | Path
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int | str = 8
    use_cache: bool = True
    progress: bool = False

    def require(self, ref: ModelRef, kinds: frozenset[str], role: str) -> None:
        """A one-line :class:`UserError` unless ``ref``'s backend answers ``kinds`` (nothing is loaded);
        ``role`` says what the model is for ("task t: reward_model")."""
        from evalkit.engine.backend import backend_class

        backend = backend_class(ref)
        missing = sorted(kinds - backend.request_kinds)
        if missing:
            raise UserError(f"{role} {ref.spec}: {backend.description} answers only "
                            f"{', '.join(sorted(backend.request_kinds))} requests; {', '.join(missing)} needed")

    def store(self) -> Store:
        """The run's results store (open; close it, or use it in a ``with``)."""
        from evalkit.store import Store

        return Store(self.store_path)

    def answers(self, ref: ModelRef, requests: Sequence[Request], label: str) -> tuple[list[Any], RunStats]:
        """``ref``'s answers to ``requests``, in order, from the store where it has them; one line on stderr
        says how many were computed (``label`` names the model's role)."""
        from evalkit.engine.dispatch import run_requests
        from evalkit.progress import progress_bar

        with self.store() as store:
            store.upsert_model(ref.fingerprint, ref.name, str(ref.path) if ref.path else None,
                               ref.parent_fingerprint, ref.metadata())
            bar = progress_bar(None, f"{label} {ref.name}", total=0, enabled=self.progress)

            def on_total(n: int) -> None:
                bar.total = n
                bar.refresh()

            def factory() -> Backend:
                from evalkit.engine.loading import load_backend

                return load_backend(ref, device=self.device, dtype=self.dtype, batch_size=self.batch_size)

            try:
                answers, stats = run_requests(requests, store=store, fingerprint=ref.fingerprint,
                                              backend_factory=factory, use_cache=self.use_cache,
                                              progress=bar.update, on_total=on_total)
            finally:
                bar.close()
        print(f"{label} {ref.name}: {stats.total} distinct requests, {stats.cached} from cache, "
              f"computed {stats.computed}", file=sys.stderr)
        return answers, stats
