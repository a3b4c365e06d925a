"""``evalkit judge``: answers compared by a judge model.

Two forms: ``--a A --b B --questions FILE`` (two models answer, or their answers come from files) and
``--pairs FILE`` (given answer pairs of any number of models). ``--votes FILE`` adds people's votes on
the judged pairs, and the report then says how far the judge is from them
(:mod:`evalkit.judge.agreement`); ``--reference-votes NAME=FILE`` scores another judge's verdicts
the same way, beside it.

Verdicts are read from probabilities (``evalkit-judge-v2``, :mod:`evalkit.judge.probability_protocol`)
unless ``--prompt-version evalkit-judge-v1`` asks for the text protocol, or an endpoint returns no
log-probabilities (then the text protocol, said once). A ``local:`` judge runs in evalkit's engine
(:mod:`evalkit.judge.engine_judge`).

Order matters for "one line, exit 2, before anything is spent": the judge spec, the key, the
answers, pairs and votes files, the output folder and the endpoint (``GET /models``) are checked and
the questions loaded before any model answers. The closing lines say how many judge calls were made
and how many came from the store's cache, on every exit path (a spent ``--max-requests`` included).
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
from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.config import Environment
    from evalkit.judge.agreement import HumanVote
    from evalkit.judge.answers import AnswerSettings
    from evalkit.judge.client import JudgeSpec
    from evalkit.judge.interfaces import Answer, PairJudgment, Question
    from evalkit.judge.pairs import PairRow
    from evalkit.judge.protocol import PairItem
    from evalkit.store import Store

HELP = "compare two models' answers with a judge model (pairwise, single-answer or reference-guided)"
MODES = ("pairwise", "single", "reference")
PROMPT_VERSIONS = ("evalkit-judge-v2", "evalkit-judge-v1")


def _reference_votes(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {value!r}")
    return name.strip(), Path(path.strip())


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--a", help="model A: any --model form (see `evalkit run --help`), or just a name with "
                        "--answers-a")
    parser.add_argument("--b", help="model B (as --a)")
    parser.add_argument("--questions", type=Path, help="question set, YAML or JSONL (evalkit ships "
                        "suites/judge/questions.yaml); with --pairs, what rows' question_id refer to")
    parser.add_argument("--pairs", type=Path, help="judge given answer pairs instead of --a/--b: JSONL rows with "
                        "id, question (or question_id), model_a, answer_a, model_b, answer_b")
    parser.add_argument("--judge", required=True, help="local:<MODEL> (any --model form, judged in evalkit's "
                        "engine), openai:<base_url>#<model> (any OpenAI-compatible endpoint) or reward:<PATH> (a "
                        "reward model: the answer it scores higher wins)")
    parser.add_argument("--mode", choices=MODES, default="pairwise",
                        help="pairwise (both orders, MT-Bench's swap rule), single (1-10 per answer) or "
                             "reference (pairwise, with the reference answer where a question has one)")
    parser.add_argument("--prompt-version", choices=PROMPT_VERSIONS, default=PROMPT_VERSIONS[0],
                        help="evalkit-judge-v2: the verdict first, read from its probabilities (default); "
                             "evalkit-judge-v1: an explanation, then a [[A]]/[[B]]/[[C]] verdict parsed from text")
    parser.add_argument("--reasoning", action="store_true", help="v2: the judge writes its explanation first; "
                        "the verdict's probabilities are read after it")
    parser.add_argument("--votes", type=Path, help="people's votes on the judged pairs (CSV or JSONL: question_id, "
                        "model_a, model_b, winner[, annotator]); stored, and the judge's agreement with them reported")
    parser.add_argument("--reference-votes", type=_reference_votes, action="append", default=[], metavar="NAME=FILE",
                        help="another judge's verdicts in the --votes format, scored against --votes beside this "
                             "judge (repeatable)")
    parser.add_argument("--limit", type=positive_int, help="only the first N questions (or pairs)")
    parser.add_argument("--output", type=Path, help="folder for judgments.jsonl, summary.json and the answer files")
    add_store_flag(parser)
    parser.add_argument("--concurrency", type=positive_int, default=4, help="endpoint judge calls in flight "
                        "(default 4)")
    parser.add_argument("--max-requests", type=positive_int,
                        help="at most N endpoint judge calls in this run; the rest are refused (what was judged "
                             "is kept)")
    parser.add_argument("--api-key-env", metavar="NAME",
                        help="environment variable holding the judge's API key (default OPENAI_API_KEY)")
    parser.add_argument("--answers-a", type=Path, help="model A's answers (JSONL: question_id, answer); "
                        "--a then only names it")
    parser.add_argument("--answers-b", type=Path, help="model B's answers (as --answers-a)")
    parser.add_argument("--judge-max-tokens", type=positive_int, default=1024,
                        help="longest explanation the judge may write (v1, --reasoning; default 1024)")
    parser.add_argument("--max-answer-tokens", type=positive_int, default=512,
                        help="longest answer a contestant may generate (default 512)")
    parser.add_argument("--batch-size", type=batch_size, default=8, help="generation and judging batch size "
                        "of local models")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="where contestants and a local judge run")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], default="float32")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed for the intervals (default 0)")


@dataclass(frozen=True)
class Contestant:
    name: str
    answers_file: Path | None


def run(args: argparse.Namespace, env: Environment) -> int:
    from evalkit.judge.client import parse_judge_spec, probe, report_stats, resolve_api_key
    from evalkit.store import Store

    started = time.perf_counter()
    spec = parse_judge_spec(args.judge)
    _check_form(args)
    sides = (Contestant(args.a, args.answers_a), Contestant(args.b, args.answers_b)) if args.pairs is None else ()
    for flag, side in zip(("--answers-a", "--answers-b"), sides):
        if side.answers_file is not None and not side.answers_file.is_file():
            raise UserError(f"{flag} {side.answers_file}: no such file")
    _check_output(args.output)
    api_key = "EMPTY"
    if spec.kind == "openai":
        assert spec.base_url is not None
        source = args.api_key_env or "OPENAI_API_KEY"
        key = getattr(args, "api_key_from_env", None) if args.api_key_env else env.openai_api_key
        api_key = resolve_api_key(spec.base_url, key, source)
    questions = _load_questions(args.questions, None if args.pairs else args.limit)
    pairs = _load_pairs(args.pairs, questions, args.limit) if args.pairs else None
    votes = _load_votes(args.votes, "--votes")
    references = {name: _load_votes(path, f"--reference-votes {name}") for name, path in args.reference_votes}
    if spec.kind == "openai":
        assert spec.base_url is not None
        listed = probe(spec.base_url, api_key)
        if listed and spec.model not in listed:
            print(f"warning: judge {spec.spec}: the endpoint lists {', '.join(listed[:5])}, not {spec.model}",
                  file=sys.stderr)

    with Store(store_path(args, env)) as store, contextlib.ExitStack() as stack:
        judge = _make_judge(spec, api_key, args, env, store, stack, sides, pairs)
        stack.callback(lambda: report_stats(judge.stats))  # on every exit path, a spent budget included
        if pairs is not None:
            items = _store_pairs(pairs, store)
            summary, records = _judge_pairs(args, items, judge, store)
        else:
            assert questions is not None
            settings = _answer_settings(args)
            answers = [_answers(side, questions, store, settings, env.progress) for side in sides]
            if args.output:
                from evalkit.judge.answers import write_answers

                args.output.mkdir(parents=True, exist_ok=True)
                for label, side_answers in zip("ab", answers):
                    write_answers(args.output / f"answers_{label}.jsonl", side_answers)
            summary, records = _judge(args, questions, answers, judge, store)
        if votes is not None or references:
            summary["agreement"] = _agreement(args, store, records, votes, references)
        if args.output:
            from evalkit.report import write_json_atomic

            args.output.mkdir(parents=True, exist_ok=True)
            write_json_atomic(args.output / "summary.json", summary)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    _print_summary(summary)
    return 0


def _check_form(args: argparse.Namespace) -> None:
    """One of the two forms, whole: ``--pairs`` alone, or ``--a``, ``--b`` and ``--questions``."""
    if args.reference_votes and args.votes is None:
        raise UserError("--reference-votes scores another judge against people's votes: give --votes too")
    if args.pairs is not None:
        given = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--answers-a", args.answers_a),
                                          ("--answers-b", args.answers_b)) if value is not None]
        if given:
            raise UserError(f"evalkit judge: --pairs judges the pairs it holds; {given[0]} cannot be given with it")
        if args.mode == "single":
            raise UserError("evalkit judge: --pairs is pairwise (--mode pairwise or reference), not single")
        if not args.pairs.is_file():
            raise UserError(f"--pairs {args.pairs}: no such file")
        return
    missing = [flag for flag, value in (("--a", args.a), ("--b", args.b), ("--questions", args.questions))
               if value is None]
    if missing:
        raise UserError(f"evalkit judge: {', '.join(missing)} required (or judge given answer pairs with --pairs FILE)")
    if args.votes is not None and args.mode == "single":
        raise UserError("evalkit judge: --votes compares pairwise verdicts with people's; --mode single has none")


def _check_output(output: Path | None) -> None:
    from evalkit.errors import UserError

    if output is not None and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UserError(f"--output {output}: exists and is not an empty folder")


def _load_questions(path: Path | None, limit: int | None) -> list[Question] | None:
    from evalkit.judge.questions import load_questions

    if path is None:
        return None
    if not path.is_file():
        raise UserError(f"--questions {path}: no such file")
    questions: list[Question] = load_questions(path)
    return questions[:limit] if limit else questions


def _load_pairs(path: Path, questions: list[Question] | None, limit: int | None) -> list[PairRow]:
    from evalkit.judge.pairs import read_pairs

    pairs = read_pairs(path, questions)
    return pairs[:limit] if limit else pairs


def _load_votes(path: Path | None, flag: str) -> list[HumanVote] | None:
    if path is None:
        return None
    from evalkit.judge.pairs import read_pair_votes

    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file")
    return read_pair_votes(path, flag)


def _make_judge(spec: JudgeSpec, api_key: str, args: argparse.Namespace, env: Environment, store: Store,
                stack: contextlib.ExitStack, sides: tuple[Contestant, ...], pairs: list[PairRow] | None) -> Any:
    """The judge: an :class:`~evalkit.judge.engine_judge.EngineJudge` for ``local:``, else an endpoint client."""
    from evalkit.judge.answers import self_preference_warning
    from evalkit.judge.prompts import PROMPT_VERSION

    if pairs is not None:
        contestants: dict[str, str | None] = {name: None for p in pairs for name in (p.model_a, p.model_b)}
    else:
        contestants = {s.name: None if s.answers_file else _fingerprint(s.name) for s in sides}
    if spec.kind == "reward":
        from evalkit.judge.reward_judge import RewardJudge, reward_judge_problem
        from evalkit.models.resolve import resolve_model

        assert spec.model is not None
        ref = resolve_model(spec.model)
        problem = reward_judge_problem(ref, args.mode, args.reasoning, args.prompt_version)
        if problem:
            raise UserError(problem)
        return RewardJudge(ref, store=store, settings=_answer_settings(args), spec=spec.model, progress=env.progress)
    if spec.kind == "local":
        from evalkit.judge.engine_judge import EngineJudge
        from evalkit.models.resolve import resolve_model

        assert spec.model is not None
        ref = resolve_model(spec.model)
        self_preference_warning(spec.model, ref.fingerprint, contestants)
        return EngineJudge(ref, store=store, settings=_answer_settings(args), spec=spec.model, progress=env.progress)
    from evalkit.judge.client import OpenAIJudgeClient

    assert spec.base_url is not None and spec.model is not None
    self_preference_warning(spec.model, None, contestants)
    client = OpenAIJudgeClient(spec.base_url, spec.model, api_key, store=store, prompt_version=PROMPT_VERSION,
                               concurrency=args.concurrency, max_requests=args.max_requests)
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


def _judge(args: argparse.Namespace, questions: list[Question], answers: list[list[Answer]], judge: Any,
           store: Store) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Judge an ``--a``/``--b`` run, store the judgments, write ``judgments.jsonl`` with ``--output``;
    the summary."""
    from evalkit.judge.probability_protocol import judge_single_by_probability
    from evalkit.judge.protocol import judge_single, pair_items
    from evalkit.judge.records import pair_record, single_record
    from evalkit.judge.stats import summarize, summarize_single

    records: list[dict[str, Any]]
    summary: dict[str, Any]
    if args.mode == "single":
        summary = {}
        records = []
        for name, side_answers in zip((args.a, args.b), answers):
            graded = None
            if _by_probability(args):
                graded = judge_single_by_probability(questions, side_answers, judge=judge, model=name,
                                                     reasoning=args.reasoning, max_tokens=args.judge_max_tokens)
            if graded is None:
                graded = judge_single(questions, side_answers, judge=judge, model=name,
                                      max_tokens=args.judge_max_tokens)
            records += [single_record(j) for j in graded]
            summary[name] = summarize_single(graded, seed=args.seed)
    else:
        items = pair_items(questions, answers[0], answers[1], model_a=args.a, model_b=args.b, mode=args.mode)
        judged = _judge_items(args, items, judge)
        records = [pair_record(j) for j in judged]
        summary = summarize(judged, answers[0], answers[1], seed=args.seed)
    return _finish(args, records, summary, judge, store)


def _by_probability(args: argparse.Namespace) -> bool:
    if args.reasoning and args.prompt_version != PROMPT_VERSIONS[0]:
        raise UserError("--reasoning reads the verdict's probabilities after the explanation: it needs "
                        "--prompt-version evalkit-judge-v2 (v1 always explains first)")
    return bool(args.prompt_version == PROMPT_VERSIONS[0])


def _judge_items(args: argparse.Namespace, items: list[PairItem], judge: Any) -> list[PairJudgment]:
    """Pairs judged from probabilities, or with the text protocol (asked for, or the endpoint gives none)."""
    from evalkit.judge.probability_protocol import judge_pair_items_by_probability
    from evalkit.judge.protocol import judge_pair_items
    from evalkit.judge.reward_judge import RewardJudge

    if isinstance(judge, RewardJudge):  # verdicts from the answers' scores
        return judge.judge_pair_items(items)
    judged = None
    if _by_probability(args):
        judged = judge_pair_items_by_probability(items, judge=judge, reasoning=args.reasoning,
                                                 max_tokens=args.judge_max_tokens)
    if judged is None:
        judged = judge_pair_items(items, judge=judge, max_tokens=args.judge_max_tokens)
    return judged


def _store_pairs(pairs: list[PairRow], store: Store) -> list[PairItem]:
    """The pairs' answers into the store (the arena shows them) as :class:`PairItem` to judge."""
    from evalkit.judge.answers import answer_records
    from evalkit.judge.interfaces import Answer
    from evalkit.judge.protocol import PairItem

    items, records = [], []
    for p in pairs:
        a, b = Answer(p.question.id, p.answer_a), Answer(p.question.id, p.answer_b)
        items.append(PairItem(p.question, p.model_a, a, p.model_b, b, pair_id=p.id))
        records += answer_records(p.model_a, [p.question], [a], "file")
        records += answer_records(p.model_b, [p.question], [b], "file")
    store.put_answers(records)
    return items


def _judge_pairs(args: argparse.Namespace, items: list[PairItem], judge: Any, store: Store
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Judge ``--pairs``, store the judgments (each with its pair id), write judgments.jsonl; the summary."""
    from evalkit.judge.records import pair_record
    from evalkit.judge.stats import summarize_pairs

    if args.mode == "reference":
        from dataclasses import replace

        items = [replace(item, reference=item.question.reference is not None) for item in items]
    judged = _judge_items(args, items, judge)
    return _finish(args, [pair_record(j) for j in judged], summarize_pairs(judged), judge, store)


def _finish(args: argparse.Namespace, records: list[dict[str, Any]], summary: dict[str, Any], judge: Any,
            store: Store) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from evalkit.report import write_jsonl_atomic

    summary["judge_calls"] = {"made": judge.stats.calls, "from_cache": judge.stats.cached,
                              "retried": judge.stats.retries}
    store.put_judgments(records)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        write_jsonl_atomic(args.output / "judgments.jsonl", records)
    return summary, records


def _agreement(args: argparse.Namespace, store: Store, records: list[dict[str, Any]], votes: list[HumanVote] | None,
               references: dict[str, list[HumanVote] | None]) -> dict[str, Any]:
    """The judge's agreement with ``votes`` (stored first), and each reference judge's on the same pairs."""
    from evalkit.judge.agreement import agreement_report
    from evalkit.judge.records import judged_from_records, judged_from_votes

    judged = judged_from_records(records)
    report: dict[str, Any] = {}
    assert votes is not None  # _check_form: references need votes
    added = store.import_votes(votes, str(args.votes.resolve()))
    print(f"votes: {len(votes)} read from {args.votes}, {added} new in the store", file=sys.stderr)
    report["judge"] = agreement_report(judged, votes, seed=args.seed)
    pairs = {(j.question_id, frozenset((j.model_a, j.model_b))) for j in judged}
    report["references"] = {}
    for name, reference in references.items():
        assert reference is not None
        on_same = [j for j in judged_from_votes(reference)
                   if (j.question_id, frozenset((j.model_a, j.model_b))) in pairs]
        report["references"][name] = agreement_report(on_same, votes, seed=args.seed)
    return report


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
