"""Task files inside suites, and task files run as suites of their own.

A suite entry with ``task:`` (a task file, a folder of them, or a shipped task, group or tag name)
instead of ``evaluator:`` runs lm-eval task files; its other keys are lm-eval's command-line
options (``num_fewshot``, ``apply_chat_template``, ...) and ``limit``. ``evalkit run FILE.yaml`` on a
task or group file, a folder, or a bare name builds a one-entry suite of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from evalkit.suites.schema import GenerationSettings, TaskCommon
from evalkit.tasks.loader import LoadedGroup, TaskLoader
from evalkit.validation import validate
from evalkit.yaml_source import Loc, SourceMap


class TaskFileEntry(TaskCommon):
    """A suite entry that names task files (``evaluator``/``dataset`` do not apply: the file has them)."""

    name: str | None = None  # type: ignore[assignment]  # the task files name their tasks
    evaluator: None = None  # type: ignore[assignment]
    task: str = Field(min_length=1, description="a task file, a folder of them, or a shipped task/group/tag name")
    num_fewshot: int | None = Field(None, ge=0)
    apply_chat_template: bool = False
    fewshot_as_multiturn: bool | None = None
    system_instruction: str | None = None
    bootstrap_iters: int = Field(100000, ge=0)

    @field_validator("fewshot_as_multiturn")
    @classmethod
    def _multiturn_needs_chat(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        # lm-eval refuses the same combination (its CLI); rendered as plain text, it would silently mean nothing.
        if value and not info.data.get("apply_chat_template"):
            raise PydanticCustomError("multiturn_without_chat", "true only with apply_chat_template: true")
        return value


@dataclass(frozen=True)
class TaskFileTasks:
    tasks: list[Any]  # ResolvedTask
    groups: list[LoadedGroup]


def resolve_task_files(raw: dict[str, Any], loc: Loc, source: SourceMap, generation: GenerationSettings,
                       base_dir: Path, allow_code: bool) -> TaskFileTasks:
    """The tasks (and groups) one ``task:`` entry of a suite names."""
    from evalkit.suites.loader import ResolvedTask
    from evalkit.tasks.task import TaskFileEvaluator, settings_for

    entry: TaskFileEntry = validate(TaskFileEntry, raw, source, loc, owner="a task-file entry")
    if entry.dataset is not None:
        raise source.error(loc + ("dataset",), "a task file names its own data (dataset_path); set --data-root "
                                               "for a local mirror")
    if entry.generation is not None:  # it would be silently ignored: the file's generation_kwargs decide
        raise source.error(loc + ("generation",), "a task file generates as its own generation_kwargs say; change "
                                                  "them in a file that includes it")
    target: str | Path = entry.task
    candidate = (base_dir / entry.task).expanduser()
    if candidate.exists():
        target = candidate
    loader = TaskLoader(allow_code=allow_code, search_dirs=[base_dir])
    collection = loader.load(target)
    if entry.name is not None and len(collection.tasks) != 1:
        raise source.error(loc + ("name",), f"name: {entry.task} holds {len(collection.tasks)} tasks; a name "
                                            "renames exactly one")
    overrides = entry.model_dump(include={"num_fewshot", "apply_chat_template", "fewshot_as_multiturn",
                                          "system_instruction", "bootstrap_iters"})
    tasks = []
    for loaded in collection.tasks:
        settings = settings_for(loaded, **overrides)
        name = entry.name or loaded.name
        tasks.append(ResolvedTask(name, TaskFileEvaluator, settings, None, entry.limit,
                                  generation, loaded.path.parent))
    return TaskFileTasks(tasks, collection.groups)
