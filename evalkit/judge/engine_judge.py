"""A ``local:`` judge: a checkpoint judging through evalkit's own engine, no server.

The judge's calls become the engine's requests (:mod:`evalkit.engine.requests`) and go through
:func:`evalkit.engine.dispatch.run_requests`, like a benchmark's: batched, every shared token prefix
computed once (all of a run's prompts begin with the same instructions, see
:mod:`evalkit.engine.prefix`), each answer cached in the store under the judge checkpoint's
fingerprint as soon as its batch is done, so a rerun makes no model call and a killed run resumes.

- :meth:`EngineJudge.choice_logprobs` (the verdict-first protocol, ``evalkit-judge-v2``): the prompt
  is rendered with the judge's chat template and the generation prompt, its reply opened with a fixed
  prefix (``Verdict:``), and each choice (`` A``, `` B``, `` C``; or `` 1/10`` … `` 10/10``) is scored
  as a continuation of it — one
  :class:`~evalkit.engine.requests.Loglikelihood` per choice, sharing their context, so the three
  letters cost one forward pass over the prompt.
- :meth:`EngineJudge.complete_many` (the text protocol, ``evalkit-judge-v1``, and ``--reasoning``'s
  explanation): greedy generation, one :class:`~evalkit.engine.requests.GenerateUntil` per call.

A checkpoint without a chat template (a base model) gets the messages in a plain format
(:func:`plain_chat`), with a warning: its verdicts are then as good as a base model's guesses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evalkit.engine.requests import GenerateUntil, Loglikelihood, Sampling
from evalkit.judge.client import JudgeStats
from evalkit.judge.interfaces import ChoiceRequest, JudgeRequest

if TYPE_CHECKING:
    from evalkit.engine.backend import Backend
    from evalkit.judge.answers import AnswerSettings
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store

Render = Callable[[Sequence[tuple[str, str]]], str]


def plain_chat(messages: Sequence[tuple[str, str]]) -> str:
    """Messages for a model without a chat template: each turn under its role's name, then the
    judge's turn opened (``Judge:``)."""
    names = {"system": "Instructions", "user": "User", "assistant": "Judge"}
    turns = [f"{names.get(role, role.title())}: {content}" for role, content in messages]
    return "\n\n".join([*turns, "Judge:"])


class EngineJudge:
    """A :class:`~evalkit.judge.interfaces.ChoiceJudge` and :class:`~evalkit.judge.interfaces.JudgeClient`
    answering through the engine with the checkpoint ``ref``."""

    endpoint = "local"

    def __init__(self, ref: ModelRef, *, store: Store, settings: AnswerSettings, spec: str | None = None,
                 progress: bool = True):
        from evalkit.judge.answers import has_chat_template

        self.ref = ref
        self.model = spec or ref.name
        self.store = store
        self.settings = settings
        self.progress = progress
        self.fingerprint = ref.fingerprint
        self.stats = JudgeStats()
        if has_chat_template(ref):
            from evalkit.engine.backend import backend_class

            formatter = backend_class(ref).chat_formatter(ref)
            self._render: Render = lambda messages: formatter([{"role": r, "content": c} for r, c in messages])
        else:
            print(f"warning: judge {self.model} has no chat template (a base model?): it reads the plain format "
                  "'Instructions: … User: … Judge:'", file=sys.stderr)
            self._render = plain_chat

    @property
    def name(self) -> str:
        return f"{self.endpoint}#{self.model}"

    def render(self, messages: Sequence[tuple[str, str]]) -> str:
        """The text the judge reads for ``messages``, ending where its reply begins."""
        return self._render(messages)

    def choice_requests(self, request: ChoiceRequest) -> list[Loglikelihood]:
        """The engine requests scoring ``request``: one continuation per choice, after one context."""
        context = self.render(request.messages) + request.prefix
        return [Loglikelihood(context, f" {choice}{request.suffix}") for choice in request.choices]

    def choice_logprobs(self, requests: list[ChoiceRequest]) -> list[tuple[float, ...]]:
        """Each request's choices' log-likelihoods (unnormalised), in order; never ``None``."""
        engine_requests = [self.choice_requests(r) for r in requests]
        flat = [e for group in engine_requests for e in group]
        answers = self._run(flat, "judge verdicts")
        out, at = [], 0
        for group in engine_requests:
            out.append(tuple(float(answers[at + k][0]) for k in range(len(group))))
            at += len(group)
        return out

    def complete_many(self, requests: list[JudgeRequest]) -> list[str]:
        """The judge's text for each request (greedy unless its temperature is above 0), in order."""
        generate = [GenerateUntil(self.render(r.messages), (), r.max_tokens, Sampling(r.temperature))
                    for r in requests]
        return [str(text).strip() for text in self._run(generate, "judge explanations")]

    def _run(self, requests: Sequence[Any], label: str) -> list[Any]:
        from evalkit.engine.dispatch import run_requests
        from evalkit.progress import progress_bar

        bar = progress_bar(None, f"{label} {self.model}", total=0, enabled=self.progress)

        def on_total(n: int) -> None:
            bar.total = n
            bar.refresh()

        try:
            answers, stats = run_requests(requests, store=self.store, fingerprint=self.fingerprint,
                                          backend_factory=self._backend_factory, progress=bar.update,
                                          on_total=on_total)
        finally:
            bar.close()
        self.stats.calls += stats.computed
        self.stats.cached += stats.cached
        return answers

    def _backend_factory(self) -> Backend:
        from evalkit.engine.loading import load_backend

        return load_backend(self.ref, device=self.settings.device, dtype=self.settings.dtype,
                            batch_size=self.settings.batch_size)

    def close(self) -> None:
        """Nothing held between calls: each batch of calls loads the model only if something is missing."""
