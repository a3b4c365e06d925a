"""The typed shape of an lm-eval task file and group file (lm-eval 0.4.13's field names, verbatim).

lm-eval's own ``TaskConfig`` is a dataclass that takes any key and guesses meanings later; here
every mapping forbids unknown keys, so a misspelled field is an error at load with "did you mean".
Metric and filter entries carry open-ended options (``ignore_case``, ``regex_pattern``); those are
checked against the metric's or filter's own parameters by the loader, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OutputType = Literal["loglikelihood", "loglikelihood_rolling", "multiple_choice", "generate_until"]
OUTPUT_TYPES: tuple[str, ...] = ("loglikelihood", "loglikelihood_rolling", "multiple_choice", "generate_until")


@dataclass(frozen=True)
class FunctionRef:
    """A ``!function module.name`` reference, kept as text: the module is never imported at load.

    ``base_dir`` is the folder of the file that holds the tag (lm-eval resolves modules there).
    """

    target: str
    base_dir: Path
    file: str
    line: int
    column: int

    @property
    def module_file(self) -> Path:
        module, _, _ = self.target.rpartition(".")
        return self.base_dir / (module.replace(".", "/") + ".py")

    @property
    def function(self) -> str:
        return self.target.rpartition(".")[2]

    def __str__(self) -> str:
        return f"!function {self.target}"


@dataclass(frozen=True)
class BuiltinRef:
    """A ``!builtin NAME`` reference: one of evalkit's named functions (``evalkit tasks builtins``)."""

    name: str
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"!builtin {self.name}"


#: A field that holds code: a user's function (refused unless allowed) or a built-in.
CodeRef = FunctionRef | BuiltinRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class _Open(BaseModel):
    """An entry whose extra keys are options checked by the loader against a registry."""

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


# A field lm-eval reads as "a column name, else a template" (or a constant, or code).
TextField = str | int | FunctionRef | BuiltinRef
TargetField = str | int | list[Any] | FunctionRef | BuiltinRef
ChoiceField = str | list[Any] | dict[str, Any] | FunctionRef | BuiltinRef


class MetricEntry(_Open):
    metric: str | CodeRef
    aggregation: str | CodeRef | None = None
    higher_is_better: bool | None = None
    hf_evaluate: bool = False


class FilterStep(_Open):
    function: str
    filter_fn: CodeRef | None = None  # filter: custom only


class FilterEntry(_Strict):
    name: str
    filter: list[FilterStep] = Field(min_length=1)


class GenerationKwargs(_Strict):
    """The generation settings evalkit's engine honours; anything else would be silently ignored, so it is refused."""

    until: str | list[str] | None = None
    max_gen_toks: int | None = Field(None, ge=1)
    do_sample: bool | None = None
    temperature: float | None = Field(None, ge=0.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)


class DatasetKwargs(_Strict):
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None
    trust_remote_code: bool | None = None  # accepted as lm-eval's files carry it; evalkit never runs hub code


class FewshotConfig(_Strict):
    sampler: Literal["default", "first_n"] = "default"
    split: str | None = None
    samples: list[dict[str, Any]] | CodeRef | None = None
    fewshot_indices: list[int] | None = None
    process_docs: CodeRef | None = None
    doc_to_text: TextField | None = None
    doc_to_choice: ChoiceField | None = None
    doc_to_target: TargetField | None = None
    gen_prefix: str | None = None
    fewshot_delimiter: str | None = None
    target_delimiter: str | None = None


class TaskFile(_Strict):
    """One task, after ``include`` has been merged (lm-eval's ``TaskConfig``)."""

    task: str = Field(min_length=1)
    task_alias: str | None = None
    tag: str | list[str] | None = None
    custom_dataset: CodeRef | None = None
    dataset_path: str | None = None
    dataset_name: str | None = None
    dataset_kwargs: DatasetKwargs | None = None
    training_split: str | None = None
    validation_split: str | None = None
    test_split: str | None = None
    fewshot_split: str | None = None
    process_docs: CodeRef | None = None
    doc_to_text: TextField | None = None
    doc_to_target: TargetField | None = None
    doc_to_choice: ChoiceField | None = None
    doc_to_image: None = None  # multimodal tasks are not supported: any value is refused
    doc_to_audio: None = None
    unsafe_code: bool = False
    process_results: CodeRef | None = None
    use_prompt: None = None  # promptsource prompts are not supported
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    fewshot_config: FewshotConfig | None = None
    num_fewshot: int | None = Field(None, ge=0)
    metric_list: list[MetricEntry] | None = None
    output_type: OutputType = "generate_until"
    generation_kwargs: GenerationKwargs | None = None
    repeats: int = Field(1, ge=1)
    filter_list: list[FilterEntry] | None = None
    should_decontaminate: bool = False
    doc_to_decontamination_query: str | None = None
    gen_prefix: str | None = None
    metadata: dict[str, Any] | None = None


class AggregateMetric(_Strict):
    metric: str
    aggregation: Literal["mean"] = "mean"
    weight_by_size: bool = True
    filter_list: str | list[str] | None = None  # None: every filter the members report


class GroupFile(_Strict):
    """A group: tasks (names, or inline task mappings) and how their metrics combine."""

    group: str = Field(min_length=1)
    group_alias: str | None = None
    task: list[str | dict[str, Any]] = Field(min_length=1)
    aggregate_metric_list: list[AggregateMetric] | None = None
    metadata: dict[str, Any] | None = None
