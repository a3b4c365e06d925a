"""The kinds of request an evaluator can make of a model, and their cache keys.

Three are lm-evaluation-harness's (log-likelihood, rolling log-likelihood, generation), answered by
language models; :class:`Score` is answered by reward models (sequence classifiers). Requests are plain
frozen data: an evaluator builds them, the engine answers them, and the results store caches each
answer under ``(model fingerprint, request hash)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from evalkit.suites.schema import GenerationSettings

RequestKind = Literal["loglikelihood", "loglikelihood_rolling", "generate_until", "score"]

#: One chat message as requests hold it (hashable): ``(role, content)``.
Message = tuple[str, str]


@dataclass(frozen=True)
class Loglikelihood:
    """log P(continuation | context): answered with ``[sum of log-probs, is_greedy]``."""

    context: str
    continuation: str
    kind: RequestKind = field(default="loglikelihood", init=False)

    @property
    def arguments(self) -> list[Any]:
        return [self.context, self.continuation]


@dataclass(frozen=True)
class LoglikelihoodRolling:
    """log P(text) over rolling windows: answered with ``[sum of log-probs, number of tokens]``."""

    text: str
    kind: RequestKind = field(default="loglikelihood_rolling", init=False)

    @property
    def arguments(self) -> list[Any]:
        return [self.text]


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. ``temperature == 0`` means greedy, whatever ``top_p`` says."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None  # only part of the cache key when sampling

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_generation(cls, gen: GenerationSettings, seed: int | None) -> Sampling:
        """The sampling part of a task's generation settings, under the run's seed."""
        return cls(gen.temperature, gen.top_p, seed)


@dataclass(frozen=True)
class GenerateUntil:
    """Generate from ``context`` until a stop string, EOS or ``max_gen_toks``: answered with the text."""

    context: str
    until: tuple[str, ...]
    max_gen_toks: int = 256
    sampling: Sampling = Sampling()
    sample_index: int = 0  # the n-th of several samples for the same prompt (pass@k)
    kind: RequestKind = field(default="generate_until", init=False)

    @property
    def arguments(self) -> list[Any]:
        gen_kwargs: dict[str, Any] = {"until": list(self.until), "max_gen_toks": self.max_gen_toks}
        if not self.sampling.greedy:
            gen_kwargs.update(temperature=self.sampling.temperature, top_p=self.sampling.top_p)
        return [self.context, gen_kwargs]


@dataclass(frozen=True)
class Score:
    """A reward model's score of ``answer`` to ``prompt``: answered with the reward (a float).

    Both are text (``prompt + answer`` is scored, EOS appended) or both are messages (the chat
    template renders ``prompt + answer``), as TRL's RewardTrainer reads the same data at training time
    (:func:`evalkit.engine.reward_inputs.reward_input_ids`). An empty prompt is TRL's implicit-prompt
    format: the whole text or conversation is in ``answer``.
    """

    prompt: str | tuple[Message, ...]
    answer: str | tuple[Message, ...]
    kind: RequestKind = field(default="score", init=False)

    def __post_init__(self) -> None:
        conversational = isinstance(self.answer, tuple)
        if self.prompt and isinstance(self.prompt, tuple) != conversational:
            raise ValueError("Score: prompt and answer must both be text or both be messages")

    @property
    def arguments(self) -> list[Any]:
        return [_json_ready(self.prompt), _json_ready(self.answer)]


def _json_ready(value: str | tuple[Message, ...]) -> Any:
    return value if isinstance(value, str) else [{"role": role, "content": content} for role, content in value]


Request = Loglikelihood | LoglikelihoodRolling | GenerateUntil | Score


def request_key(request: Request) -> dict[str, Any]:
    """The canonical content of a request: everything that can change its answer, nothing else."""
    key = asdict(request)
    if isinstance(request, GenerateUntil) and request.sampling.greedy:
        # Greedy decoding does not depend on the seed, top_p or the sample index.
        key["sampling"] = {"temperature": 0.0}
        key["sample_index"] = 0
    return key


def request_hash(request: Request) -> str:
    """A stable sha256 of :func:`request_key` (sorted-key JSON)."""
    blob = json.dumps(request_key(request), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
