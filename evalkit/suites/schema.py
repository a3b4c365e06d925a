"""Typed shape of a suite file. Unknown keys are errors everywhere."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.data import DatasetSpec

TASK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class GenerationSettings(BaseModel):
    """Decoding settings shared by generation tasks (suite ``defaults.generation`` or per task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_gen_toks: int = Field(256, ge=1, description="most new tokens per generation")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass (sampling only)")


class Defaults(BaseModel):
    """Run settings for every task of the suite; command-line flags override them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(8, description="requests per forward pass, "
                                                                       "or 'auto'")
    seed: int = Field(1234, description="seed for sampling and few-shot selection")
    limit: int | None = Field(None, ge=1, description="use only the first N documents of each task")
    generation: GenerationSettings = GenerationSettings()


class TaskCommon(BaseModel):
    """The keys every task has; all other keys of a task belong to its evaluator's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TASK_NAME_PATTERN)
    evaluator: str
    dataset: DatasetSpec | None = None
    limit: int | None = Field(None, ge=1)
    generation: GenerationSettings | None = None


COMMON_KEYS = frozenset(TaskCommon.model_fields)


class SuiteFile(BaseModel):
    """One suite file as written; tasks stay raw here and are checked against their evaluator next."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = Field(pattern=TASK_NAME_PATTERN)
    description: str = ""
    defaults: Defaults = Defaults()
    include: list[str] = []
    tasks: list[dict[str, Any]] = []
