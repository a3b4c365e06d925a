"""The backend contract: what answers requests for a model, and which backend serves which model.

A backend is a class implementing :class:`Backend`, registered for the kinds of resolved model
(:attr:`ModelRef.kind <evalkit.models.resolve.ModelRef.kind>`) it serves. Everything the runner
must know *before* loading a model is asked of the class: the request kinds it answers (so a run
that cannot be answered is refused before anything is written) and its chat formatter (which loads
nothing until first used).

Adding a backend: write its module with a class decorated ``@register_backend("kind")`` and add
the module to :data:`BACKEND_MODULES`. The modules are imported on first lookup; they must keep
their heavy imports (torch, openai, ...) inside functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, RequestKind, Score
from evalkit.registry import Registry, UnknownName

if TYPE_CHECKING:
    from evalkit.models.chat import ChatFormatter
    from evalkit.models.resolve import ModelRef

OnBatch = Callable[[list[int], list[Any]], None]  # (request indices, their responses)

#: Modules holding the registered backends (imported on first lookup, see module doc).
BACKEND_MODULES = ("evalkit.engine.hf", "evalkit.engine.openai_backend", "evalkit.engine.reward")


class Backend(Protocol):
    """Answers requests for one loaded model.

    Each answering method reports answers through ``on_batch(indices, responses)`` as they are
    computed, indices into its ``requests``, each exactly once, in any order. A method for a kind
    not in :attr:`request_kinds` raises :class:`~evalkit.errors.UserError`.
    """

    #: The request kinds this backend answers; known without loading anything.
    request_kinds: ClassVar[frozenset[RequestKind]]
    #: What the backend is, for messages ("an OpenAI-compatible endpoint").
    description: ClassVar[str]

    @classmethod
    def load(cls, ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> Backend:
        """A ready backend for ``ref`` (this is where weights are loaded or a client is made)."""
        ...

    @classmethod
    def chat_formatter(cls, ref: ModelRef) -> ChatFormatter:
        """Renders chat messages as ``ref`` will see them; loads nothing until first called."""
        ...

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_batch: OnBatch) -> None:
        """Answer each request with ``[sum of log-probs of the continuation, is it the greedy text]``."""
        ...

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_batch: OnBatch) -> None:
        """Answer each request with ``[sum of log-probs of the whole text, number of tokens]``."""
        ...

    def generate_until(self, requests: Sequence[GenerateUntil], on_batch: OnBatch) -> None:
        """Answer each request with the generated text, cut before the first stop string."""
        ...

    def score(self, requests: Sequence[Score], on_batch: OnBatch) -> None:
        """Answer each request with a reward model's score of its answer (a float)."""
        ...

    def close(self) -> None:
        """Release what the backend holds (model weights, connections); it answers nothing after."""
        ...


B = TypeVar("B", bound=type[Backend])

_BACKENDS: Registry[type[Backend]] = Registry("model kind")


def register_backend(*kinds: str) -> Callable[[B], B]:
    """Class decorator: the backend serving resolved models of ``kinds``."""

    def decorate(cls: B) -> B:
        for kind in kinds:
            _BACKENDS.register(kind)(cls)
        return cls

    return decorate


def backend_class(ref: ModelRef) -> type[Backend]:
    """The backend class serving ``ref`` (nothing is loaded)."""
    for module in BACKEND_MODULES:
        importlib.import_module(module)
    try:
        return _BACKENDS.get(ref.kind)
    except UnknownName as exc:  # a ModelKind without a backend is a programming error
        raise LookupError(str(exc)) from None
