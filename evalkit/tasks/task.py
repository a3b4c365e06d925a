"""The evaluator that runs an lm-eval task file: documents → requests → filtered responses → lm-eval's metrics.

Every document's text, target and choices are rendered when the task loads, so a missing column, a
gold index out of range or choices that are not a list is one error naming the document, the field,
the template and the columns, before any model is loaded. The requests are the engine's three kinds
(``multiple_choice`` is one log-likelihood request per choice), so shots and choices share prefixes
in the engine and generations are batched as for every other task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from pydantic import Field, PrivateAttr

from evalkit.data import DatasetSpec
from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, Request, Sampling
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, EvaluatorSettings, TaskContext
from evalkit.scores import Aggregate, ItemScore, finite_or_none
from evalkit.tasks import prompt, templates
from evalkit.tasks.docs import Doc, TaskDocs
from evalkit.tasks.loader import LoadedTask
from evalkit.tasks.samplers import FirstNSampler, RandomSampler
from evalkit.tasks.schema import BuiltinRef, FunctionRef

#: lm-eval's metrics when a task has no metric_list (``api/registry.py`` DEFAULT_METRIC_REGISTRY).
DEFAULT_METRICS = {"loglikelihood": ("perplexity", "acc"),
                   "loglikelihood_rolling": ("word_perplexity", "byte_perplexity", "bits_per_byte"),
                   "multiple_choice": ("acc", "acc_norm"), "generate_until": ("exact_match",)}

REQUEST_KINDS = {"loglikelihood": "loglikelihood", "multiple_choice": "loglikelihood",
                 "loglikelihood_rolling": "loglikelihood_rolling", "generate_until": "generate_until"}


class TaskFileSettings(EvaluatorSettings):
    """What a suite may set for a task file, beside the file itself (lm-eval's command-line options)."""

    task_file: str = Field(description="the task file (set by the loader)")
    sha256: str = Field(description="digest of the resolved task file and its code (part of every cache key)")
    num_fewshot: int | None = Field(None, ge=0,
                                    description="overrides the file's num_fewshot (lm-eval's --num_fewshot)")
    apply_chat_template: bool = Field(False, description="render prompts with the model's chat template")
    fewshot_as_multiturn: bool | None = Field(None, description="with apply_chat_template: shots as turns "
                                                                "(default) or folded into one user turn")
    system_instruction: str | None = Field(None, description="system text before the description")
    bootstrap_iters: int = Field(100000, ge=0, description="bootstrap resamples for non-mean stderrs "
                                                           "(lm-eval's default); 0 reports N/A")
    _task: LoadedTask | None = PrivateAttr(None)

    def with_task(self, task: LoadedTask) -> TaskFileSettings:
        self._task = task
        return self

    @property
    def task(self) -> LoadedTask:
        assert self._task is not None, "task file settings built without their task"
        return self._task


@dataclass(frozen=True)
class Rendered:
    """A document as the task sees it: lm-eval's doc_to_text, doc_to_target and doc_to_choice."""

    text: str | int | list[Any]
    target: Any
    choices: list[str] | None


class TaskFileEvaluator(Evaluator):
    """A task file in lm-eval 0.4.13's format (``evalkit run FILE.yaml``; see the README's *Declarative benchmarks*).

    Not in the evaluator registry: a suite names task files with ``task:``, and the loader builds
    the settings (the loaded file travels with them).
    """

    name = "lm_eval_task"
    Settings = TaskFileSettings
    request_kinds = frozenset({"loglikelihood", "loglikelihood_rolling", "generate_until"})
    settings: TaskFileSettings

    def __init__(self, settings: TaskFileSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        self.task = settings.task
        self.cfg = self.task.config
        self.docs_source = TaskDocs(self.task, ctx.data_root)
        self.columns: frozenset[str] = frozenset()
        self.multiple_input = False
        self.multiple_target = False
        self._sampler: RandomSampler | FirstNSampler | None = None
        self.metrics = self._metric_specs()

    # -- identity ----------------------------------------------------------------------------------
    def task_version(self) -> Any:
        return self.task.version

    def metric_directions(self) -> dict[str, bool]:
        from evalkit.tasks.metrics import METRICS

        out = {}
        for name, entry in self.metrics:
            hib = entry.get("higher_is_better")
            out[name] = bool(hib) if hib is not None else (METRICS.get(name).higher_is_better
                                                            if name in METRICS else True)
        return out

    def _metric_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """(metric name, its metric_list entry) in the file's order, or lm-eval's defaults."""
        if self.cfg.metric_list is None:
            return [(m, {}) for m in DEFAULT_METRICS[self.cfg.output_type]]
        out = []
        for entry in self.cfg.metric_list:
            name = entry.metric if isinstance(entry.metric, str) else _ref_name(entry.metric)
            out.append((name, {"aggregation": entry.aggregation, "higher_is_better": entry.higher_is_better,
                               "options": entry.options, "ref": entry.metric}))
        return out

    @property
    def num_fewshot(self) -> int:
        n = self.settings.num_fewshot if self.settings.num_fewshot is not None else self.cfg.num_fewshot
        return n or 0

    # -- documents ---------------------------------------------------------------------------------
    def task_dataset(self) -> DatasetSpec:
        from evalkit.tasks.docs import dataset_spec

        return dataset_spec(self.task, self.docs_source.eval_split())

    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        docs = self.docs_source.split(self.docs_source.eval_split())
        if not docs:
            raise UserError(f"task {self.task.name}: the {self.docs_source.eval_split()!r} split has no documents")
        self.columns = frozenset(k for d in docs for k in d)
        self._check_single_braces()
        first = self.render(docs[0], 0)
        self.multiple_input = isinstance(first.text, int) and first.choices is not None
        # lm-eval decides these from the first document alone, for the whole task.
        self.multiple_target = isinstance(first.target, list)
        for i, doc in enumerate(docs):
            self._check(doc, i, self.render(doc, i))
        if self.num_fewshot:
            pool = self.docs_source.fewshot_pool()
            pool_columns = frozenset(k for d in pool for k in d)
            for i, shot in enumerate(pool):
                self._render_shot(shot, i, pool_columns)
        return docs

    def _field(self, spec: Any) -> Any:
        return self.task.functions[spec] if isinstance(spec, FunctionRef | BuiltinRef) else spec

    def render(self, doc: Doc, index: int, *, fewshot: bool = False,
               columns: frozenset[str] | None = None) -> Rendered:
        """lm-eval's three views of ``doc`` (its few-shot views with ``fewshot``), or one located error."""
        cfg, fs = self.cfg, self.cfg.fewshot_config
        cols = columns if columns is not None else self.columns
        text_spec, target_spec, choice_spec = cfg.doc_to_text, cfg.doc_to_target, cfg.doc_to_choice
        if fewshot and fs is not None:
            text_spec = fs.doc_to_text if fs.doc_to_text is not None else text_spec
            target_spec = fs.doc_to_target if fs.doc_to_target is not None else target_spec
            choice_spec = fs.doc_to_choice if fs.doc_to_choice is not None else choice_spec
        where = "few-shot document" if fewshot else "document"
        has_choices = cfg.doc_to_choice is not None
        field = "doc_to_choice"
        try:
            choices = None
            if choice_spec is not None:
                choices = templates.doc_to_choice(self._field(choice_spec), doc, cols)
            field = "doc_to_text"
            text = (templates.doc_to_text(self._field(text_spec), doc, cols, has_choices)
                    if text_spec is not None else "")
            field = "doc_to_target"
            target = (templates.doc_to_target(self._field(target_spec), doc, cols, has_choices)
                      if target_spec is not None else "")
        except templates.TemplateError as exc:
            raise self._doc_error(index, where, field, {"doc_to_text": text_spec, "doc_to_target": target_spec,
                                                        "doc_to_choice": choice_spec}[field], str(exc), doc) from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:  # raised inside task code
            raise self._doc_error(index, where, field, None, f"{type(exc).__name__}: {exc}", doc) from None
        return Rendered(text, target, choices)

    def _doc_error(self, index: int, where: str, field: str, spec: Any, message: str, doc: Doc) -> UserError:
        shown = f" (template {spec!r})" if isinstance(spec, str) else (f" ({spec})" if spec is not None else "")
        loc = ("fewshot_config", field) if where.startswith("few") and self.cfg.fewshot_config and \
            getattr(self.cfg.fewshot_config, field, None) is not None else (field,)
        err = self.task.error(loc, f"{where} {index}: {message}{shown}; the document has columns "
                                   f"{', '.join(sorted(doc))}")
        return err

    def _check(self, doc: Doc, index: int, r: Rendered) -> None:
        cfg = self.cfg
        if r.choices is not None and not (isinstance(r.choices, list) and all(isinstance(c, str) for c in r.choices)):
            raise self._doc_error(index, "document", "doc_to_choice", cfg.doc_to_choice,
                                  f"expected a list of strings, got {r.choices!r}", doc)
        if self.multiple_input:
            if not isinstance(r.text, int) or not 0 <= r.text < len(r.choices or []):
                raise self._doc_error(index, "document", "doc_to_text", cfg.doc_to_text,
                                      f"expected a choice index in 0..{len(r.choices or []) - 1} "
                                      f"(multiple inputs), got {r.text!r}", doc)
            if not isinstance(r.target, str):
                raise self._doc_error(index, "document", "doc_to_target", cfg.doc_to_target,
                                      f"expected the continuation text (multiple inputs), got {r.target!r}", doc)
            return
        if not isinstance(r.text, str):
            raise self._doc_error(index, "document", "doc_to_text", cfg.doc_to_text,
                                  f"expected text, got {r.text!r}", doc)
        if cfg.output_type == "multiple_choice":
            assert r.choices is not None  # the loader requires doc_to_choice for multiple_choice
            golds = r.target if isinstance(r.target, list) else [r.target]
            for gold in golds:
                if isinstance(gold, bool) or not ((isinstance(gold, int) and 0 <= gold < len(r.choices))
                                                  or (isinstance(gold, str) and gold in r.choices)):
                    raise self._doc_error(index, "document", "doc_to_target", cfg.doc_to_target,
                                          f"gold {gold!r} is not a choice index in 0..{len(r.choices) - 1} "
                                          f"nor one of the choices {r.choices!r}", doc)
        elif cfg.output_type in ("loglikelihood", "loglikelihood_rolling") and not isinstance(r.target, str):
            raise self._doc_error(index, "document", "doc_to_target", cfg.doc_to_target,
                                  f"expected text to score, got {r.target!r}", doc)
        elif cfg.output_type == "generate_until" and r.choices is not None:
            if not isinstance(r.target, int) or not 0 <= r.target < len(r.choices):
                raise self._doc_error(index, "document", "doc_to_target", cfg.doc_to_target,
                                      f"with doc_to_choice, expected a choice index, got {r.target!r}", doc)

    def _check_single_braces(self) -> None:
        for field in ("doc_to_text", "doc_to_target", "doc_to_choice", "description", "gen_prefix"):
            value = getattr(self.cfg, field)
            sources = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] \
                if isinstance(value, list) else []
            for source in sources:
                if source in self.columns:
                    continue
                named = templates.single_brace_columns(source, self.columns)
                if named:
                    raise self.task.error((field,), f"{{{named[0]}}} in single braces names a column but is not a "
                                                    f"Jinja placeholder (lm-eval would print it literally); write "
                                                    f"{{{{{named[0]}}}}}")

    # -- shots -------------------------------------------------------------------------------------
    def _render_shot(self, shot: Doc, index: int, columns: frozenset[str]) -> prompt.Shot:
        r = self.render(shot, index, fewshot=True, columns=columns)
        fs_choices = r.choices if (self.cfg.fewshot_config and self.cfg.fewshot_config.doc_to_choice) or \
            self.cfg.doc_to_choice is not None else None
        question: Any = r.text
        if self.multiple_input:
            question, fs_choices = (r.choices or [])[r.text], None  # type: ignore[index]
        answer: Any = r.target
        if fs_choices and isinstance(answer, int):
            answer = fs_choices[answer]
        elif isinstance(answer, list):
            answer = answer[0]
        if not isinstance(question, str) or not isinstance(answer, str):
            raise self._doc_error(index, "few-shot document", "doc_to_target", None,
                                  f"a shot needs text and an answer text, got {question!r} and {answer!r}", shot)
        fs = self.cfg.fewshot_config
        gen_prefix = fs.gen_prefix if fs is not None and fs.gen_prefix is not None else self.cfg.gen_prefix
        return prompt.Shot(question, answer, self._resolve_field(shot, gen_prefix) if gen_prefix else None)

    def _shots(self, doc: Doc, doc_id: int) -> list[prompt.Shot]:
        k = self.num_fewshot
        if k == 0:
            return []
        if self._sampler is None:
            pool = self.docs_source.fewshot_pool()
            sampler = self.cfg.fewshot_config.sampler if self.cfg.fewshot_config else "default"
            exclude = self.docs_source.excludes_eval_doc()
            self._sampler = (FirstNSampler(pool, k, exclude_eval_doc=exclude) if sampler == "first_n"
                             else RandomSampler(pool, k, self.ctx.seed, exclude_eval_doc=exclude))
            self._pool_columns = frozenset(key for d in pool for key in d)
        shots = self._sampler.shots(doc_id, dict(doc))
        return [self._render_shot(s, i, self._pool_columns) for i, s in enumerate(shots)]

    # -- requests ----------------------------------------------------------------------------------
    def _resolve_field(self, doc: Doc, value: str | None) -> str:
        """lm-eval's ``resolve_field``: a column of the document, else a template."""
        if not value:
            return ""
        if value in doc:
            return str(doc[value])
        return templates.render(templates.compile_template(value), doc)

    def _style(self) -> prompt.PromptStyle:
        s = self.settings
        if not s.apply_chat_template:
            return prompt.PromptStyle(s.system_instruction)
        from evalkit.models.chat import require_formatter

        fmt = cast(Any, require_formatter(self.ctx.format_chat, self.ctx.task_name))

        def chat(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
            return str(fmt(messages) if add_generation_prompt else fmt(messages, False))

        multiturn = s.apply_chat_template if s.fewshot_as_multiturn is None else s.fewshot_as_multiturn
        return prompt.PromptStyle(s.system_instruction, chat, multiturn)

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        cfg = self.cfg
        r = self.render(doc, doc_id)
        fs = cfg.fewshot_config
        field = "description"
        try:  # every document's requests are built at load: a bad template here is a located error too
            description = self._resolve_field(doc, cfg.description)
            field = "gen_prefix"
            gen_prefix = self._resolve_field(doc, cfg.gen_prefix) if cfg.gen_prefix else None
        except templates.TemplateError as exc:
            raise self._doc_error(doc_id, "document", field, getattr(cfg, field), str(exc), doc) from None
        common = dict(description=description, shots=self._shots(doc, doc_id), gen_prefix=gen_prefix,
                      style=self._style(),
                      fewshot_target_delimiter=fs.target_delimiter if fs and fs.target_delimiter is not None
                      else cfg.target_delimiter,
                      fewshot_delimiter=fs.fewshot_delimiter if fs and fs.fewshot_delimiter is not None
                      else cfg.fewshot_delimiter,
                      task_fewshot_delimiter=cfg.fewshot_delimiter)
        if self.multiple_input:
            contexts = prompt.multiple_input_contexts(inputs=r.choices or [], **common)  # type: ignore[arg-type]
        else:
            contexts = [prompt.context(question=str(r.text), target_delimiter=cfg.target_delimiter,
                                       **common)]  # type: ignore[arg-type]
        out: list[Request] = []
        if cfg.output_type == "loglikelihood":
            out.append(Loglikelihood(contexts[0], str(r.target)))
        elif cfg.output_type == "loglikelihood_rolling":
            out.append(LoglikelihoodRolling(str(r.target)))
        elif cfg.output_type == "multiple_choice":
            delimiter = cfg.target_delimiter
            if self.settings.apply_chat_template:
                delimiter = cfg.target_delimiter if cfg.gen_prefix and not prompt.ends_with_whitespace(cfg.gen_prefix) \
                    else ""
            if self.multiple_input:
                out += [Loglikelihood(c, f"{delimiter}{r.target}") for c in contexts]
            else:
                out += [Loglikelihood(contexts[0], f"{delimiter}{c}") for c in r.choices or []]
            if any(name == "acc_mutual_info" for name, _ in self.metrics):
                out += [Loglikelihood("", f"{delimiter}{c}") for c in r.choices or []]
        else:
            out += self._generations(contexts[0])
        return out

    def _generations(self, context: str) -> list[Request]:
        cfg = self.cfg
        gk = cfg.generation_kwargs
        until = gk.until if gk is not None else None
        if until is None:
            until = [cfg.fewshot_delimiter]
        stops = (until,) if isinstance(until, str) else tuple(until)
        max_gen_toks = gk.max_gen_toks if gk is not None and gk.max_gen_toks is not None else 256
        sampling = Sampling()
        if gk is not None and gk.do_sample:
            temperature = gk.temperature if gk.temperature is not None else 1.0
            sampling = Sampling(temperature, gk.top_p if gk.top_p is not None else 1.0, self.ctx.seed)
        return [GenerateUntil(context, stops, max_gen_toks, sampling, sample_index=i) for i in range(cfg.repeats)]

    def target(self, doc: dict[str, Any]) -> Any:
        # What lm-eval logs as a sample's target: doc_to_target, for multiple inputs too (WinoGrande's
        # continuation text, not the gold index, which scoring reads from doc_to_text).
        return self.render(doc, -1).target

    # -- scoring -----------------------------------------------------------------------------------
    def _instances(self, responses: list[Any]) -> list[list[Any]]:
        """The responses of one document grouped as lm-eval's instances, each with its ``repeats`` responses."""
        if self.cfg.output_type == "generate_until":
            return [list(responses)]
        if self.cfg.output_type == "loglikelihood_rolling":  # the engine adds the token count; lm-eval has the sum
            return [[float(r[0])] * self.cfg.repeats for r in responses]
        return [[r] * self.cfg.repeats for r in responses]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        from evalkit.tasks.filters import DEFAULT_PIPELINE, FilterPipeline

        per_doc_instances = [self._instances(_plain(resps)) for resps in responses]
        flat = [inst for insts in per_doc_instances for inst in insts]
        flat_docs = [dict(doc) for doc, insts in zip(docs, per_doc_instances) for _ in insts]
        pipelines = [FilterPipeline(p.name, [(s.function, self._step_options(s)) for s in p.filter])
                     for p in self.cfg.filter_list] if self.cfg.filter_list else [DEFAULT_PIPELINE]
        out: list[list[ItemScore]] = [[] for _ in docs]
        for pipeline in pipelines:
            filtered = pipeline.apply([list(x) for x in flat], flat_docs)
            cursor = 0
            for i, (doc, insts) in enumerate(zip(docs, per_doc_instances)):
                results = filtered[cursor: cursor + len(insts)]
                cursor += len(insts)
                out[i].append(ItemScore(pipeline.name, _plain(results), _plain(self._process(doc, results))))
        return out

    def _step_options(self, step: Any) -> dict[str, Any]:
        options = dict(step.options)
        if step.filter_fn is not None:
            options["filter_fn"] = self.task.functions[step.filter_fn]
        return options

    def _process(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        from evalkit.tasks import metrics

        if self.cfg.process_results is not None:
            fn = self.task.functions[self.cfg.process_results]
            return dict(fn(dict(doc), results))
        r = self.render(doc, -1)
        gold = r.text if self.multiple_input else r.target
        hf = self.task.hf_metrics
        standard = [(n, e.get("options", {})) for n, e in self.metrics if n not in hf]
        out = metrics.process_results(self.cfg.output_type, standard, results, gold=gold, choices=r.choices,
                                      multiple_input=self.multiple_input,
                                      target_text=r.target if isinstance(r.target, str) else None,
                                      multiple_target=self.multiple_target) if standard else {}
        for name, entry in self.metrics:
            if name in hf:  # generate_until only (the loader checks): the gold text against the response
                gold_text = r.choices[gold] if r.choices is not None and isinstance(gold, int) else gold
                out.update(hf[name](gold_text, results[0], entry.get("options", {})))
        return out

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        from evalkit.tasks import metrics

        names = list(scores[0].metrics) if scores else []
        entries = dict(self.metrics)
        out: dict[str, Aggregate] = {}
        for name in names:
            entry = entries.get(name, {})
            agg = entry.get("aggregation")
            if agg is None:
                agg = metrics.METRICS.get(name).aggregation if name in metrics.METRICS else "mean"
            items = [s.metrics[name] for s in scores]
            value = metrics.aggregate(agg, items) if isinstance(agg, str) else \
                float(self.task.functions[agg](items))
            iters = metrics.bootstrap_iters_for(name, self.settings.bootstrap_iters)  # lm-eval caps bleu & co at 100
            stderr = metrics.stderr(agg, items, iters) if isinstance(agg, str) else None
            out[name] = Aggregate(float(value), finite_or_none(stderr), len(items))
        return out


def _ref_name(ref: Any) -> str:
    return ref.function if isinstance(ref, FunctionRef) else str(getattr(ref, "name", ref))


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, numpy scalars and arrays as Python numbers (stored and cached as such)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def settings_for(task: LoadedTask, **overrides: Any) -> TaskFileSettings:
    """The evaluator settings of one loaded task (``overrides``: the suite's num_fewshot, chat options ...)."""
    settings = TaskFileSettings(task_file=str(task.path), sha256=task.sha256, **overrides)
    return settings.with_task(task)

