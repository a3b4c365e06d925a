"""OpenAI-compatible endpoints (``openai:<base_url>#<model>``): generation only.

A chat-completions endpoint returns no prompt log-probabilities, so log-likelihood tasks cannot
be scored through it; the runner refuses them before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.engine.backend import OnBatch, register_backend
from evalkit.engine.generation import cut_at_stops
from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, RequestKind, Score
from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.models.chat import ChatFormatter
    from evalkit.models.resolve import ModelRef

MAX_API_STOPS = 4  # the OpenAI API accepts at most four stop strings; the rest are cut here


@register_backend("openai")
class OpenAIBackend:
    request_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"generate_until"})
    description: ClassVar[str] = "an OpenAI-compatible endpoint"

    @classmethod
    def load(cls, ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> OpenAIBackend:
        """A client for the endpoint (device, dtype and batch size are the server's business)."""
        return cls(ref.base_url or "", ref.api_model or "")

    @classmethod
    def chat_formatter(cls, ref: ModelRef) -> ChatFormatter:
        from evalkit.models.chat import SingleUserTurn

        return SingleUserTurn(ref.spec)

    def __init__(self, base_url: str, model: str, concurrency: int = 4, max_retries: int = 6):
        try:
            import openai
        except ImportError:
            raise UserError("openai: models need the openai package: pip install openai") from None
        from evalkit.config import current_environment  # OPENAI_API_KEY, read once at the CLI edge

        self.client = openai.OpenAI(base_url=base_url, api_key=current_environment().openai_api_key or "EMPTY",
                                    max_retries=max_retries, timeout=600)
        self.model = model
        self.concurrency = concurrency

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_batch: OnBatch) -> None:
        raise UserError("openai: endpoints give no prompt log-probabilities; use a local model for this task")

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_batch: OnBatch) -> None:
        raise UserError("openai: endpoints give no prompt log-probabilities; use a local model for this task")

    def score(self, requests: Sequence[Score], on_batch: OnBatch) -> None:
        raise UserError("openai: an endpoint is not a reward model; score with a local reward checkpoint")

    def close(self) -> None:
        self.client.close()

    def generate_until(self, requests: Sequence[GenerateUntil], on_batch: OnBatch) -> None:
        """Each prompt is sent as one user message; answers are written as they arrive."""
        import openai

        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self._one, r): i for i, r in enumerate(requests)}
            for future, i in futures.items():
                try:
                    text = future.result()
                except (openai.APIConnectionError, openai.APIStatusError) as exc:
                    # Retries are spent: stop with one line. Answers so far are in the store.
                    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise UserError(f"openai endpoint {self.client.base_url}: {type(exc).__name__}: {message[:200]}; "
                                    "answers received so far are cached, rerun to resume") from None
                on_batch([i], [text])

    def _one(self, request: GenerateUntil) -> str:
        kwargs: dict[str, Any] = {"temperature": request.sampling.temperature}
        if not request.sampling.greedy:
            kwargs.update(top_p=request.sampling.top_p, seed=request.sampling.seed)
        stops = [s for s in request.until if s][:MAX_API_STOPS]
        response = self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": request.context}],
            max_tokens=request.max_gen_toks, stop=stops or None, **kwargs)
        return cut_at_stops(response.choices[0].message.content or "", request.until)
