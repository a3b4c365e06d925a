"""``evalkit run``: a suite on a model, from documents to results on disk and in the store.

Order matters for the "nothing half-written" promise: everything that can fail on bad input
(task selection, model resolution, data loading, request building) happens before the output
folder or the run record is created.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from evalkit import __version__
from evalkit.config import RunConfig
from evalkit.engine.backend import Backend, backend_class
from evalkit.engine.dispatch import RunStats, run_requests
from evalkit.engine.requests import Request, request_hash
from evalkit.engine.shards import ShardSpec
from evalkit.errors import ConfigError, UnavailableError, UserError
from evalkit.evaluator import Evaluator, TaskContext
from evalkit.models.chat import ChatFormatter
from evalkit.models.resolve import ModelRef, resolve_model
from evalkit.progress import progress_bar
from evalkit.report import format_table, task_results_block, write_json_atomic, write_jsonl_atomic
from evalkit.scores import Aggregate, ItemScore
from evalkit.store import ResultRow, Store
from evalkit.suites import ResolvedTask, Suite


@dataclass
class PreparedTask:
    task: ResolvedTask
    evaluator: Evaluator
    docs: list[dict[str, Any]]
    n_original: int
    requests: list[list[Request]]


@dataclass
class RunOutcome:
    run_id: str
    output_dir: Path
    results: dict[str, dict[str, dict[str, Aggregate]]]
    stats: RunStats
    timing: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why this machine cannot run it


@dataclass
class _Loaded:
    """What a run has before it touches the store: every failure on bad input happened by now."""

    tasks: list[ResolvedTask]
    ref: ModelRef | None
    device: str
    prepared: list[PreparedTask]
    skipped: dict[str, str]


def _load(suite: Suite, config: RunConfig) -> _Loaded:
    by_name = {t.name: t for t in suite.tasks}
    tasks = [by_name[name] for name in config.tasks]
    needs_model = any(t.evaluator.request_kinds for t in tasks)
    if needs_model and not config.model:
        raise UserError("--model is required: tasks " + ", ".join(t.name for t in tasks if t.evaluator.request_kinds)
                        + " query a model")
    ref = resolve_model(config.model) if config.model else None
    format_chat: ChatFormatter | None = None
    if ref is not None:
        backend = backend_class(ref)  # the class: what it can answer is known without loading anything
        _check_capabilities(ref, backend, tasks)
        format_chat = backend.chat_formatter(ref)  # loads the tokenizer on first use only
    device = _device_name(config.device) if needs_model or ref else "cpu"

    prepared, skipped = [], {}
    for t in progress_bar(tasks, "loading data", enabled=config.progress):
        try:
            prepared.append(_prepare(t, config, device, format_chat, ref))
        except UnavailableError as exc:  # this machine lacks what the task needs (bwrap): run the others
            skipped[t.name] = str(exc)
            print(f"skipped task {t.name}: {exc}", file=sys.stderr)
    if not prepared and skipped:
        raise UnavailableError(next(iter(skipped.values())))
    return _Loaded(tasks, ref, device, prepared, skipped)


def run_suite(suite: Suite, config: RunConfig) -> RunOutcome:
    """Run ``config.tasks`` of ``suite`` (``config`` comes from :meth:`RunConfig.resolve` on the same suite).

    With ``config.require_cached`` (the gather after sharded workers) every answer must be in the
    cache already: a missing one is an error before anything is written, and no model is loaded.
    """
    if config.shard is not None:
        raise ValueError("run_suite: a sharded config runs with run_shard")
    started = time.perf_counter()
    loaded = _load(suite, config)
    tasks, ref, device, prepared, skipped = loaded.tasks, loaded.ref, loaded.device, loaded.prepared, loaded.skipped
    load_s = time.perf_counter() - started

    with Store(config.store_path) as store:  # closed on every path, a failed run included
        model_name = ref.name if ref else "none"
        run_id = _run_id(suite.name, model_name)
        out_dir = config.output or Path("runs") / run_id
        if out_dir.exists() and any(out_dir.iterdir()):
            raise UserError(f"--output {out_dir}: folder exists and is not empty")
        if config.require_cached and ref is not None:
            _check_all_cached(prepared, ref, store)
        out_dir.mkdir(parents=True, exist_ok=True)
        record = {"model": ref.spec if ref else None, "model_name": model_name,
                  "model_fingerprint": ref.fingerprint if ref else None, "suite": suite.name,
                  "suite_path": str(suite.path), "suite_sha256": suite.sha256, "seed": config.seed,
                  "batch_size": config.batch_size, "limit": config.limit, "device": device, "dtype": config.dtype,
                  "tasks": [t.name for t in tasks],
                  # The limit each task ran with (None: all documents) and the documents it then had.
                  "limits": {p.task.name: config.limits[p.task.name] for p in prepared},
                  "n_effective": {p.task.name: len(p.docs) for p in prepared},
                  "versions": _library_versions()}
        if ref is not None:
            store.upsert_model(ref.fingerprint, ref.name, str(ref.path) if ref.path else None,
                               ref.parent_fingerprint, ref.metadata())
            if ref.base is not None:
                store.upsert_model(ref.base.fingerprint, ref.base.name, str(ref.base.path), None, ref.base.metadata())
        store.create_run(run_id, suite.name, suite.sha256, ref.fingerprint if ref else "", model_name, record,
                         str(out_dir))
        try:
            outcome = _execute(prepared, ref, config, store, run_id, out_dir, device, config.batch_size)
            _add_group_results(suite, outcome, store, run_id)
        except BaseException:
            store.finish_run(run_id, "failed", {})
            raise
        outcome.timing["load_s"] = load_s
        outcome.skipped = skipped
        outcome.timing["total_s"] = time.perf_counter() - started
        timing = {**outcome.timing, "requests": vars(outcome.stats)}
        write_json_atomic(out_dir / "results.json", {
            "results": {t: task_results_block(t, by_filter) for t, by_filter in outcome.results.items()},
            "n-samples": {p.task.name: {"original": p.n_original, "effective": len(p.docs)} for p in prepared},
            "higher_is_better": {p.task.name: p.evaluator.metric_directions() for p in prepared},
            "versions": {p.task.name: p.evaluator.task_version() for p in prepared},
            "config": record, "timing": timing, "run_id": run_id, "skipped": skipped,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        })
        store.finish_run(run_id, "finished", timing)
        return outcome


def _check_all_cached(prepared: list[PreparedTask], ref: ModelRef, store: Store) -> None:
    hashes = list(dict.fromkeys(request_hash(r) for p in prepared for doc in p.requests for r in doc))
    missing = len(hashes) - len(store.cache_get_many(ref.fingerprint, hashes))
    if missing:
        raise UserError(f"gather: {missing} of {len(hashes)} requests are not in the store {store.path}; "
                        "rerun the shards that did not finish (each resumes where it stopped)")


@dataclass
class ShardOutcome:
    shard: ShardSpec
    stats: RunStats  # over this shard's requests only
    cost: int  # the tokens (prefill + weighted generation) this shard was given
    total_cost: int
    seconds: float


def run_shard(suite: Suite, config: RunConfig) -> ShardOutcome:
    """Answer shard ``config.shard``'s part of the suite's requests into the store's request cache.

    Every shard builds all requests and computes the same partition (:mod:`evalkit.engine.shards`),
    then answers its own, resuming from what the cache already holds (a rerun of a dead shard
    keeps what it had answered). No run record, no output folder: a later ``evalkit run`` without
    ``--shard`` finds every answer cached and writes the results.
    """
    from evalkit.engine.shards import partition, request_units, shard_cost

    assert config.shard is not None
    started = time.perf_counter()
    loaded = _load(suite, config)
    flat = [r for p in loaded.prepared for doc_reqs in p.requests for r in doc_reqs]
    stats, cost, total = RunStats(), 0, 0
    if flat:
        ref = loaded.ref
        assert ref is not None
        units = request_units(flat, _token_counter(ref))
        mine = partition(units, config.shard.count)[config.shard.index]
        total, cost = shard_cost(units), shard_cost(mine)
        own = set(h for u in mine for h in u.hashes)
        by_hash = {request_hash(r): r for r in flat}
        with Store(config.store_path) as store:
            _, stats = _execute_requests([by_hash[h] for h in by_hash if h in own], ref, config, store,
                                         loaded.device, config.batch_size)
    return ShardOutcome(config.shard, stats, cost, total, time.perf_counter() - started)


def _token_counter(ref: ModelRef) -> Callable[[str], int]:
    """Token counts for the partition's costs: the model's tokenizer where it has a local one;
    an endpoint's requests are estimated at 4 UTF-8 bytes a token (only the balance depends on it)."""
    if ref.kind == "openai":
        return lambda text: max(len(text.encode()) // 4, 1)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ref.tokenizer_path)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def print_shard_summary(outcome: ShardOutcome, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    s = outcome.stats
    share = f"{100 * outcome.cost / outcome.total_cost:.1f}%" if outcome.total_cost else "0%"
    print(f"shard {outcome.shard}: {s.total} requests ({share} of the cost), {s.cached} from cache, "
          f"computed {s.computed}; {outcome.seconds:.1f} s", file=stream)


def _execute(prepared: list[PreparedTask], ref: ModelRef | None, opts: RunConfig, store: Store, run_id: str,
             out_dir: Path, device: str, batch_size: int | str) -> RunOutcome:
    flat = [r for p in prepared for doc_reqs in p.requests for r in doc_reqs]
    t0 = time.perf_counter()
    responses, stats = _execute_requests(flat, ref, opts, store, device, batch_size)
    requests_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    results: dict[str, dict[str, dict[str, Aggregate]]] = {}
    cursor = 0
    for p in progress_bar(prepared, "scoring", enabled=opts.progress):
        per_doc = []
        for doc_reqs in p.requests:
            per_doc.append(responses[cursor: cursor + len(doc_reqs)])
            cursor += len(doc_reqs)
        scores, by_filter = _score_task(p, per_doc, store, opts.use_cache)
        results[p.task.name] = by_filter
        records = _sample_records(p, per_doc, scores)
        write_jsonl_atomic(out_dir / f"samples_{p.task.name}.jsonl", records)
        store.add_samples(run_id, p.task.name, records)
        store.add_results(run_id, [ResultRow(p.task.name, m, f, a.value, a.stderr, a.n)
                                   for f, metrics in by_filter.items() for m, a in metrics.items()])
    return RunOutcome(run_id, out_dir, results, stats,
                      {"requests_s": requests_s, "scoring_s": time.perf_counter() - t1})


def _execute_requests(flat: list[Request], ref: ModelRef | None, opts: RunConfig, store: Store, device: str,
                      batch_size: int | str) -> tuple[list[Any], RunStats]:
    """Answers to ``flat`` through the cache, loading the model only if something is missing."""
    if not flat:
        return [], RunStats()
    assert ref is not None
    bar = progress_bar(None, "requests", total=0, enabled=opts.progress)

    def factory() -> Backend:
        from evalkit.engine.loading import load_backend

        bar.set_description("loading model")
        backend = load_backend(ref, device=device, dtype=opts.dtype, batch_size=batch_size)
        bar.set_description("requests")
        bar.reset(total=bar.total)
        return backend

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        return run_requests(flat, store=store, fingerprint=ref.fingerprint, backend_factory=factory,
                            use_cache=opts.use_cache, progress=bar.update, on_total=on_total)
    finally:
        bar.close()


def _add_group_results(suite: Suite, outcome: RunOutcome, store: Store, run_id: str) -> None:
    """lm-eval groups of the suite's task files, from their tasks' results (groups whose tasks all ran)."""
    if not suite.groups:
        return
    from evalkit.tasks.groups import group_results

    for group, by_filter in group_results(suite.groups, outcome.results).items():
        outcome.results[group] = by_filter
        store.add_results(run_id, [ResultRow(group, m, f, a.value, a.stderr, a.n)
                                   for f, metrics in by_filter.items() for m, a in metrics.items()])


#: Bumped when the cached payload's shape changes, so that older payloads are not read back as new.
SCORES_FORMAT = 2  # 2: items have ``details`` (1: what is not a metric sat among the metrics)


def _score_task(p: PreparedTask, per_doc: list[list[Any]], store: Store,
                use_cache: bool) -> tuple[list[list[ItemScore]], dict[str, dict[str, Aggregate]]]:
    """Per-item scores and aggregates, from the store when the same responses were scored before.

    Scoring is a pure function of the evaluator (name, version, settings), the seed, the documents
    and the responses, so identical inputs may reuse the stored outcome. This keeps a cached rerun
    from loading scoring models (BERTScore's encoder) and makes its numbers bit-identical.
    """
    key_blob = json.dumps([SCORES_FORMAT, p.evaluator.name, p.evaluator.version,
                           p.evaluator.settings.model_dump(mode="json"), p.evaluator.ctx.seed, p.docs, per_doc],
                          sort_keys=True, default=str)
    key = hashlib.sha256(key_blob.encode()).hexdigest()
    if use_cache:
        hit = store.scores_get(key, __version__)
        if hit is not None:
            scores = [[ItemScore.from_json(s) for s in doc] for doc in hit["scores"]]
            by_filter = {f: {m: Aggregate(*a) for m, a in metrics.items()} for f, metrics in hit["aggregates"].items()}
            return scores, by_filter
    scores = p.evaluator.score_all(p.docs, per_doc)
    by_filter = _aggregate(p.evaluator, scores)
    payload = {"scores": [[s.to_json() for s in doc] for doc in scores],
               "aggregates": {f: {m: [a.value, a.stderr, a.n] for m, a in metrics.items()}
                              for f, metrics in by_filter.items()}}
    store.scores_put(key, __version__, p.task.name, p.evaluator.name, payload)
    return scores, by_filter


def _aggregate(evaluator: Evaluator, scores: list[list[ItemScore]]) -> dict[str, dict[str, Aggregate]]:
    by_filter: dict[str, list[ItemScore]] = {}
    for doc_scores in scores:
        for s in doc_scores:
            by_filter.setdefault(s.filter, []).append(s)
    return {f: evaluator.aggregate(f, items) for f, items in by_filter.items()}


def _sample_records(p: PreparedTask, per_doc: list[list[Any]], scores: list[list[ItemScore]]) -> list[dict]:
    records = []
    for doc_id, (doc, reqs, resps, doc_scores) in enumerate(zip(p.docs, p.requests, per_doc, scores)):
        for s in doc_scores:
            records.append({"doc_id": doc_id, "filter": s.filter, "doc": doc,
                            "target": p.evaluator.target(doc), "arguments": [r.arguments for r in reqs],
                            "resps": resps, "filtered_resps": s.filtered_resps, **s.metrics,
                            **({"details": s.details} if s.details else {})})
    return records


class MissingField(KeyError):
    """A document lacks a field its evaluator reads: a data problem, unlike any other KeyError (a bug)."""


class _Document(dict[str, Any]):
    """A document whose missing fields raise :class:`MissingField`, so that the runner can tell a
    data problem (the document lacks a field) from a bug (a KeyError anywhere else in an evaluator)."""

    def __missing__(self, key: str) -> Any:
        raise MissingField(key)


def _prepare(task: ResolvedTask, config: RunConfig, device: str, format_chat: ChatFormatter | None,
             ref: ModelRef | None = None) -> PreparedTask:
    from evalkit.engine.other_models import OtherModels

    others = OtherModels(config.store_path, device, config.dtype, config.batch_size, config.use_cache, config.progress)
    ctx = TaskContext(task.name, config.seed, task.generation, task.base_dir, config.data_root, device, format_chat,
                      dataset=task.dataset, model=ref, other_models=others)
    evaluator = task.evaluator(task.settings, ctx)
    try:
        docs = evaluator.load_docs(task.dataset or evaluator.task_dataset())
    except ConfigError:
        raise  # already located as file:line:col (a task file's document that does not render)
    except UserError as exc:
        raise UserError(f"task {task.name}: {exc}") from None
    n_original = len(docs)
    limit = config.limits[task.name]
    docs = [_Document(doc) for doc in (docs[:limit] if limit else docs)]
    try:
        requests = [evaluator.requests(doc, i) for i, doc in enumerate(docs)]
    except MissingField as exc:
        raise UserError(f"task {task.name}: documents have no field {exc} "
                        f"(they have: {', '.join(docs[0]) if docs else 'no documents'})") from None
    return PreparedTask(task, evaluator, docs, n_original, requests)


def _check_capabilities(ref: ModelRef, backend: type[Backend], tasks: list[ResolvedTask]) -> None:
    """Refuse, before anything is loaded or written, tasks whose requests the backend cannot answer."""
    missing = {t.name: sorted(t.evaluator.request_kinds_for(backend.request_kinds) - backend.request_kinds)
               for t in tasks}
    refused = [name for name, kinds in missing.items() if kinds]
    if refused:
        kinds = sorted({k for name in refused for k in missing[name]})
        raise UserError(f"--model {ref.spec}: {backend.description} answers only "
                        f"{', '.join(sorted(backend.request_kinds))} requests; tasks {', '.join(refused)} need "
                        f"{', '.join(kinds)} (use a local model for them)")


def _device_name(device: str) -> str:
    from evalkit.engine.loading import pick_device

    return pick_device(device)


def _run_id(suite: str, model: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-") or "model"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{suite}__{safe}__{stamp}-{secrets.token_hex(2)}"


def _library_versions() -> dict[str, str]:
    from evalkit.versions import installed_versions

    return {"evalkit": __version__, "python": platform.python_version(),
            **installed_versions(("torch", "transformers", "sacrebleu", "rouge-score", "bert-score", "datasets"))}


def print_summary(outcome: RunOutcome, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout  # looked up now: a default bound at import would miss a redirected stdout
    rows = [(task, metric, flt, a.value, a.stderr, a.n)
            for task, by_filter in outcome.results.items()
            for flt, metrics in by_filter.items() for metric, a in metrics.items()]
    print(format_table(rows), file=stream)
    for task, why in outcome.skipped.items():
        print(f"skipped task {task}: {why}", file=stream)
    s = outcome.stats
    recomputed = "recomputed nothing" if s.computed == 0 else f"computed {s.computed}"
    print(f"\nrequests: {s.total} distinct, {s.cached} from cache, {recomputed}; "
          f"{outcome.timing.get('total_s', 0):.1f} s", file=stream)
    print(f"results: {outcome.output_dir / 'results.json'}  (run {outcome.run_id})", file=stream)
