"""The evaluator contract: documents in, requests out, responses scored, scores aggregated.

An evaluator is one module under ``evaluators/`` holding one subclass of :class:`Evaluator`
decorated with :func:`register_evaluator`. Its ``Settings`` model declares the keys a suite may
set for it; unknown keys are refused when the suite is loaded, before anything runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from evalkit.engine.requests import Request
from evalkit.registry import Registry, import_submodules


class EvaluatorSettings(BaseModel):
    """Base of every evaluator's settings: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationSettings(BaseModel):
    """Decoding settings shared by generation tasks (suite ``defaults.generation`` or per task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_gen_toks: int = Field(256, ge=1, description="most new tokens per generation")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass (sampling only)")


class DatasetSpec(BaseModel):
    """Where documents come from, in the Hugging Face datasets convention.

    ``path`` is a hub id (``openai/gsm8k``), a builder for local files (``json``, ``csv``,
    ``parquet`` with ``data_files``), or a local folder laid out as the evaluator documents.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)
    name: str | None = None
    split: str | None = None
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None


@dataclass(frozen=True)
class TaskContext:
    """What an evaluator knows about the run it is part of."""

    task_name: str
    seed: int
    generation: GenerationSettings
    base_dir: Path  # the suite file's folder: relative paths in settings resolve against it
    data_root: Path | None = None
    device: str = "cpu"
    #: Renders chat messages with the model's chat template (None when the model has none).
    format_chat: Callable[[list[dict[str, str]]], str] | None = None


@dataclass
class ItemScore:
    """The scores of one document under one filter (``none`` when the evaluator has no filters)."""

    filter: str
    filtered_resps: list[Any]
    metrics: dict[str, Any]


@dataclass
class Aggregate:
    """A task-level metric: value, standard error (None where undefined) and items used."""

    value: float
    stderr: float | None
    n: int


@dataclass
class TaskResult:
    """Everything :meth:`Evaluator.aggregate` reports for one filter."""

    metrics: dict[str, Aggregate] = field(default_factory=dict)


class Evaluator(ABC):
    """Base class of evaluators. Subclasses set ``Settings`` and implement three methods."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type[EvaluatorSettings]] = EvaluatorSettings
    #: The request kinds it sends to a model; empty means it needs no model at all.
    request_kinds: ClassVar[frozenset[str]] = frozenset()
    #: The dataset used when a suite names none (None: the suite must name one).
    default_dataset: ClassVar[DatasetSpec | None] = None
    #: For each metric, whether higher is better (the leaderboard sorts by it).
    higher_is_better: ClassVar[dict[str, bool]] = {}
    #: Bumped whenever a change can move this evaluator's numbers (recorded in results.json).
    version: ClassVar[int] = 1

    def __init__(self, settings: EvaluatorSettings, ctx: TaskContext):
        self.settings = settings
        self.ctx = ctx

    # -- documents ---------------------------------------------------------------------------
    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        """All documents of the task, in a fixed order. Default: the generic dataset loader."""
        from evalkit.data import load_records

        return load_records(dataset, base_dir=self.ctx.base_dir, data_root=self.ctx.data_root)

    # -- model interaction ---------------------------------------------------------------------
    @abstractmethod
    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        """The requests whose answers score ``doc`` (may be empty for model-free evaluators)."""

    def target(self, doc: dict[str, Any]) -> Any:
        """The gold answer recorded in the samples file."""
        return None

    @abstractmethod
    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        """Per-item scores, one :class:`ItemScore` per filter, from the responses in request order."""

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        """Scores of every document. Override to batch work across documents (an encoder model)."""
        return [self.score(doc, resps) for doc, resps in zip(docs, responses)]

    def subgroups(self, doc: dict[str, Any]) -> list[str]:
        """Names of sub-results this document also counts toward (MMLU: its subject and category).

        Each subgroup is aggregated with :meth:`aggregate` over its documents and reported beside
        the task in results.json (lm-eval reports subtasks and groups the same way).
        """
        return []

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        """Task-level metrics for one filter. Default: mean ± standard error of each metric."""
        from evalkit.metrics.stats import mean, mean_stderr

        out: dict[str, Aggregate] = {}
        for metric in scores[0].metrics if scores else []:
            values = [float(s.metrics[metric]) for s in scores]
            out[metric] = Aggregate(mean(values), _finite_or_none(mean_stderr(values)), len(values))
        return out


def _finite_or_none(x: float | None) -> float | None:
    import math

    return None if x is None or not math.isfinite(x) else float(x)


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


def register_evaluator(name: str) -> Callable[[type[Evaluator]], type[Evaluator]]:
    """Class decorator: make an evaluator available to suites under ``name``."""

    def decorate(cls: type[Evaluator]) -> type[Evaluator]:
        cls.name = name
        return EVALUATORS.register(name)(cls)

    return decorate


_loaded = False


def evaluator_registry() -> Registry[type[Evaluator]]:
    """The registry, after importing every module under ``evalkit.evaluators``."""
    global _loaded
    if not _loaded:
        import_submodules("evalkit.evaluators")
        _loaded = True
    return EVALUATORS
