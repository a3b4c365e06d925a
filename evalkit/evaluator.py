"""The evaluator contract: documents in, requests out, responses scored, scores aggregated.

An evaluator is one module under ``evaluators/`` holding one subclass of :class:`Evaluator`
decorated with :func:`register_evaluator`. Its ``Settings`` model declares the keys a suite may
set for it; unknown keys are refused when the suite is loaded, before anything runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from evalkit.data import DatasetSpec
from evalkit.engine.requests import Request
from evalkit.registry import Registry, import_submodules
from evalkit.scores import Aggregate, ItemScore, finite_or_none

if TYPE_CHECKING:  # the suite schema imports this module's registry, through the suite loader
    from evalkit.engine.other_models import OtherModels
    from evalkit.models.resolve import ModelRef
    from evalkit.suites.schema import GenerationSettings


class EvaluatorSettings(BaseModel):
    """Base of every evaluator's settings: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    #: The dataset the task evaluates (None: the evaluator's ``default_dataset``). Few-shot pools
    #: come from other splits of it, so an evaluator needs nothing remembered from ``load_docs``.
    dataset: DatasetSpec | None = None
    #: The model under evaluation (None when the run has none): read by evaluators whose requests depend
    #: on what it is (a reward model's scores or a policy's log-likelihoods) or on where it came from.
    model: ModelRef | None = None
    #: Answers requests of other models (a reference policy, a reward model scoring generations) through
    #: the run's store cache, with the run's device and dtype (None outside a run).
    other_models: OtherModels | None = None


class Evaluator(ABC):
    """Base class of evaluators. Subclasses set ``Settings`` and implement three methods.

    An evaluator is stateless between calls: what a method needs comes from its arguments, the
    settings and the context, never from an earlier call (memoised pure functions of settings and
    context, such as a loaded few-shot pool, are fine). In particular :meth:`aggregate` computes
    from the scores it is given, which may come from the store's score cache.
    """

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

    @classmethod
    def request_kinds_for(cls, answered: frozenset[str]) -> frozenset[str]:
        """The request kinds it sends to a model whose backend answers ``answered``: all of
        :attr:`request_kinds` unless an evaluator adapting to the model (a reward model's scores or a
        policy's log-likelihoods) narrows them. The runner refuses a task when these are not all answered."""
        return cls.request_kinds

    def metric_directions(self) -> dict[str, bool]:
        """For each metric, whether higher is better (recorded in results.json)."""
        return dict(self.higher_is_better)

    def task_version(self) -> Any:
        """The version recorded for this task in results.json (a task file's ``metadata.version``)."""
        return self.version

    # -- documents ---------------------------------------------------------------------------
    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        """All documents of the task, in a fixed order. Default: the generic dataset loader."""
        from evalkit.data import load_records

        return load_records(dataset, base_dir=self.ctx.base_dir, data_root=self.ctx.data_root)

    def task_dataset(self) -> DatasetSpec:
        """The dataset the task evaluates: the context's, else the evaluator's default."""
        dataset = self.ctx.dataset or self.default_dataset
        if dataset is None:
            raise ValueError(f"task {self.ctx.task_name}: no dataset (the suite must name one)")
        return dataset

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

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        """Task-level metrics for one filter, from ``scores`` alone (their metrics and details).

        Default: mean ± standard error of each metric."""
        from evalkit.metrics.stats import mean, mean_stderr

        out: dict[str, Aggregate] = {}
        for metric in scores[0].metrics if scores else []:
            values = [float(s.metrics[metric]) for s in scores]
            out[metric] = Aggregate(mean(values), finite_or_none(mean_stderr(values)), len(values))
        return out


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


E = TypeVar("E", bound=Evaluator)


def register_evaluator(name: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: make an evaluator available to suites under ``name``."""

    def decorate(cls: type[E]) -> type[E]:
        cls.name = name
        EVALUATORS.register(name)(cls)
        return cls

    return decorate


_loaded = False


def evaluator_registry() -> Registry[type[Evaluator]]:
    """The registry, after importing every module under ``evalkit.evaluators``."""
    global _loaded
    if not _loaded:
        import_submodules("evalkit.evaluators")
        _loaded = True
    return EVALUATORS
