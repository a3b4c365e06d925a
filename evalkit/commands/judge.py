"""``evalkit judge --a A --b B --questions FILE --judge JUDGE``: two models' answers compared by a judge model.

Order matters for "one line, exit 2, before anything is spent": the judge spec, the key, the
answers files, the output folder and the endpoint (``GET /models``) are checked and the questions
loaded before any model answers; a ``local:`` judge's server starts (and must answer) before the
contestants generate. The closing lines say how many judge calls were made and how many came
from the store's cache, on every exit path (a spent ``--max-requests`` included).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.commands._args import add_store_flag, batch_size, positive_int, store_path

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.judge.answers import AnswerSettings
    from evalkit.judge.client import JudgeSpec, OpenAIJudgeClient, RetryPolicy
    from evalkit.judge.interfaces import Answer, Question
    from evalkit.store import Store

HELP = "compare two models' answers with a judge model (pairwise, single-answer or reference-guided)"
MODES = ("pairwise", "single", "reference")


def local_policy() -> RetryPolicy:
    """Retries for a ``local:`` judge. Its server generates one answer at a time, so a call waits for
    every call queued before it; on a busy CPU that takes minutes, and a call given up on keeps the
    server busy anyway (measured: 120 s time-outs on a shared 2-core machine wasted most of a run).
    Long time-outs, few attempts."""
    from evalkit.judge.client import RetryPolicy

    return RetryPolicy(max_attempts=3, timeout_s=1800.0, total_s=3600.0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--a", required=True, help="model A: any --model form (see `evalkit run --help`), "
                        "or just a name with --answers-a")
    parser.add_argument("--b", required=True, help="model B (as --a)")
    parser.add_argument("--questions", required=True, type=Path, help="question set, YAML or JSONL "
                        "(evalkit ships suites/judge/questions.yaml)")
    parser.add_argument("--judge", required=True, help="openai:<base_url>#<model> (any OpenAI-compatible "
                        "endpoint) or local:<MODEL> (evalkit serves the checkpoint with transformers serve)")
    parser.add_argument("--mode", choices=MODES, default="pairwise",
                        help="pairwise (both orders, MT-Bench's swap rule), single (1-10 per answer) or "
                             "reference (pairwise, with the reference answer where a question has one)")
    parser.add_argument("--limit", type=positive_int, help="only the first N questions")
    parser.add_argument("--output", type=Path, help="folder for judgments.jsonl, summary.json and both answer files")
    add_store_flag(parser)
    parser.add_argument("--concurrency", type=positive_int, default=4, help="judge calls in flight (default 4)")
    parser.add_argument("--max-requests", type=positive_int,
                        help="at most N judge calls in this run; the rest are refused (what was judged is kept)")
    parser.add_argument("--api-key-env", metavar="NAME",
                        help="environment variable holding the judge's API key (default OPENAI_API_KEY)")
    parser.add_argument("--answers-a", type=Path, help="model A's answers (JSONL: question_id, answer); "
                        "--a then only names it")
    parser.add_argument("--answers-b", type=Path, help="model B's answers (as --answers-a)")
    parser.add_argument("--judge-max-tokens", type=positive_int, default=1024,
                        help="longest judgment the judge may write (default 1024)")
    parser.add_argument("--max-answer-tokens", type=positive_int, default=512,
                        help="longest answer a contestant may generate (default 512)")
    parser.add_argument("--batch-size", type=batch_size, default=8, help="contestants' generation batch size")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="where contestants and a local judge run")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], default="float32")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed for the interval (default 0)")


@dataclass(frozen=True)
class Contestant:
    name: str
    answers_file: Path | None


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.errors import UserError
    from evalkit.judge.client import parse_judge_spec, probe, report_stats, resolve_api_key
    from evalkit.store import Store

    started = time.perf_counter()
    spec = parse_judge_spec(args.judge)
    sides = (Contestant(args.a, args.answers_a), Contestant(args.b, args.answers_b))
    for flag, side in (("--answers-a", sides[0]), ("--answers-b", sides[1])):
        if side.answers_file is not None and not side.answers_file.is_file():
            raise UserError(f"{flag} {side.answers_file}: no such file")
    _check_output(args.output)
    api_key = "EMPTY"  # a local judge's server takes any key
    if spec.kind == "openai":
        assert spec.base_url is not None
        source = args.api_key_env or "OPENAI_API_KEY"
        key = getattr(args, "api_key_from_env", None) if args.api_key_env else env.openai_api_key
        api_key = resolve_api_key(spec.base_url, key, source)
        listed = probe(spec.base_url, api_key)
        if listed and spec.model not in listed:
            print(f"warning: judge {spec.spec}: the endpoint lists {', '.join(listed[:5])}, not {spec.model}",
                  file=sys.stderr)
    questions = _load_questions(args.questions, args.limit)

    with Store(store_path(args, env)) as store, contextlib.ExitStack() as stack:
        client = _start_judge(spec, api_key, args, env, store, stack, sides)
        stack.callback(lambda: report_stats(client.stats))  # on every exit path, a spent budget included
        settings = _answer_settings(args)
        answers = [_answers(side, questions, store, settings, env.progress) for side in sides]
        if args.output:
            from evalkit.judge.answers import write_answers

            args.output.mkdir(parents=True, exist_ok=True)
            for label, side_answers in zip("ab", answers):
                write_answers(args.output / f"answers_{label}.jsonl", side_answers)
        summary = _judge(args, questions, answers, client, store)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    _print_summary(summary)
    return 0


def _check_output(output: Path | None) -> None:
    from evalkit.errors import UserError

    if output is not None and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"--output {output}: exists and is not an empty folder")


def _load_questions(path: Path, limit: int | None) -> list[Question]:
    from evalkit.errors import UserError
    from evalkit.judge.questions import load_questions

    if not path.is_file():
        raise UserError(f"--questions {path}: no such file")
    questions: list[Question] = load_questions(path)
    return questions[:limit] if limit else questions


def _start_judge(spec: JudgeSpec, api_key: str, args: argparse.Namespace, env: Environment, store: Store,
                 stack: contextlib.ExitStack, sides: tuple[Contestant, Contestant]) -> OpenAIJudgeClient:
    """The judge's client; a ``local:`` judge's server is started and stopped with ``stack``."""
    from evalkit.judge.answers import self_preference_warning
    from evalkit.judge.client import OpenAIJudgeClient, judge_fingerprint
    from evalkit.judge.prompts import PROMPT_VERSION

    common: dict[str, Any] = dict(store=store, prompt_version=PROMPT_VERSION, concurrency=args.concurrency,
                                  max_requests=args.max_requests)
    contestants = {s.name: None if s.answers_file else _fingerprint(s.name) for s in sides}
    if spec.kind == "local":
        from evalkit.judge.server import local_judge_server
        from evalkit.models.resolve import resolve_model

        assert spec.model is not None
        ref = resolve_model(spec.model)
        self_preference_warning(spec.model, ref.fingerprint, contestants)
        server = stack.enter_context(local_judge_server(spec.model, device=args.device, dtype=args.dtype))
        # The server's port changes every run; its judgments do not: the cache identity is the checkpoint's.
        client = OpenAIJudgeClient(server.base_url, server.model_id, api_key, endpoint="local", model=spec.model,
                                   fingerprint=judge_fingerprint("local", ref.fingerprint), policy=local_policy(),
                                   **common)
    else:
        assert spec.base_url is not None and spec.model is not None
        self_preference_warning(spec.model, None, contestants)
        client = OpenAIJudgeClient(spec.base_url, spec.model, api_key, **common)
    stack.callback(client.close)
    return client


def _fingerprint(spec: str) -> str:
    """A contestant's fingerprint for the self-preference check (resolved again, cheaply, when it answers)."""
    from evalkit.models.resolve import resolve_model

    return resolve_model(spec).fingerprint


def _answer_settings(args: argparse.Namespace) -> AnswerSettings:
    from evalkit.judge.answers import AnswerSettings

    return AnswerSettings(max_gen_toks=args.max_answer_tokens, device=args.device, dtype=args.dtype,
                          batch_size=args.batch_size)


def _answers(side: Contestant, questions: list[Question], store: Store, settings: AnswerSettings,
             progress: bool) -> list[Answer]:
    """A contestant's answers: read from its file, else generated through the engine (and cached)."""
    from evalkit.judge.answers import answer_records, generate_answers, read_answers
    from evalkit.models.resolve import resolve_model

    if side.answers_file is not None:
        answers = read_answers(side.answers_file, questions, f"answers of {side.name}")
        store.put_answers(answer_records(side.name, questions, answers, "file"))
        return answers
    ref = resolve_model(side.name)
    store.upsert_model(ref.fingerprint, ref.name, str(ref.path) if ref.path else None, ref.parent_fingerprint,
                       ref.metadata())
    answers, stats = generate_answers(questions, ref, store=store, settings=settings, progress=progress)
    print(f"answers of {side.name}: {stats.total} distinct, {stats.cached} from cache, computed {stats.computed}",
          file=sys.stderr)
    store.put_answers(answer_records(side.name, questions, answers, "generated"))
    return answers


def _judge(args: argparse.Namespace, questions: list[Question], answers: list[list[Answer]],
           client: OpenAIJudgeClient, store: Any) -> dict[str, Any]:
    """Judge, store the judgments (``store``: the Store, whose judgments table J1's migration adds),
    write ``judgments.jsonl``/``summary.json`` with ``--output``; the summary."""
    from evalkit.judge.protocol import judge_pairwise, judge_single
    from evalkit.judge.records import pair_record, single_record
    from evalkit.judge.stats import summarize, summarize_single
    from evalkit.report import write_json_atomic, write_jsonl_atomic

    records: list[dict[str, Any]]
    summary: dict[str, Any]
    if args.mode == "single":
        summary = {}
        records = []
        for name, side_answers in zip((args.a, args.b), answers):
            graded = judge_single(questions, side_answers, judge=client, model=name, max_tokens=args.judge_max_tokens)
            records += [single_record(j) for j in graded]
            summary[name] = summarize_single(graded, seed=args.seed)
    else:
        judged = judge_pairwise(questions, answers[0], answers[1], judge=client, model_a=args.a, model_b=args.b,
                                mode=args.mode, max_tokens=args.judge_max_tokens)
        records = [pair_record(j) for j in judged]
        summary = summarize(judged, answers[0], answers[1], seed=args.seed)
    summary["judge_calls"] = {"made": client.stats.calls, "from_cache": client.stats.cached,
                              "retried": client.stats.retries}
    store.put_judgments(records)
    if args.output:
        write_jsonl_atomic(args.output / "judgments.jsonl", records)
        write_json_atomic(args.output / "summary.json", summary)
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    """The summary as a two-column table (nested values flattened with dots)."""
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, float):
            rows.append((prefix, f"{value:.4f}"))
        elif isinstance(value, list) and all(isinstance(v, float) for v in value):
            rows.append((prefix, "[" + ", ".join(f"{v:.4f}" for v in value) + "]"))
        else:
            rows.append((prefix, str(value)))

    walk("", summary)
    width = max((len(k) for k, _ in rows), default=0)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
