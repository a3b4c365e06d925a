"""A local judge in evalkit's engine against the same judge behind ``transformers serve`` (the path before it).

    .venv/bin/python bench/judge_speed.py [--judge smollm2-135m-instruct] [--questions 10] [--workdir DIR]

Both sides judge the same pairs: the first ``--questions`` questions of ``suites/judge/questions.yaml``,
answered by ``--a`` and ``--b`` (generated once through the engine into a store, then copied, so each
side starts from a store that already holds both contestants' answers and only the judging is timed),
each question in both orders:

- ``engine``: ``local:JUDGE`` as ``evalkit judge`` runs it now — the verdict-first prompt
  (``evalkit-judge-v2``), the three letters scored as continuations in batches with shared prefixes;
- ``serve``: the previous path — ``transformers serve`` started for the judge, the text protocol
  (``evalkit-judge-v1``: an explanation of up to ``--serve-max-tokens`` tokens, then ``[[A]]``/``[[B]]``/
  ``[[C]]`` parsed, a verdict-only retry where it is missing) through the OpenAI client, 4 calls in flight.

Each side's time runs from creating the judge (the model load or the server's start included) to the
last verdict. Printed: both wall times, the ratio (target ≥ 10×), and how many questions each side
left unscored.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "suites" / "judge" / "questions.yaml"


def prepare(args: argparse.Namespace, workdir: Path) -> tuple[Any, list[Any], list[Any], Path]:
    """The questions and both contestants' answers, generated once into ``workdir/answers.db``."""
    from evalkit.judge.answers import AnswerSettings, generate_answers
    from evalkit.judge.questions import load_questions
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store

    questions = load_questions(QUESTIONS)[: args.questions]
    settings = AnswerSettings(max_gen_toks=args.max_answer_tokens, device="cpu", batch_size=args.batch_size)
    store_file = workdir / "answers.db"
    with Store(store_file) as store:
        answers = [generate_answers(questions, resolve_model(m), store=store, settings=settings, progress=False)[0]
                   for m in (args.a, args.b)]
    return questions, answers[0], answers[1], store_file


def engine_side(args: argparse.Namespace, items: list[Any], store_file: Path) -> tuple[float, list[Any]]:
    from evalkit.judge.answers import AnswerSettings
    from evalkit.judge.engine_judge import EngineJudge
    from evalkit.judge.probability_protocol import judge_pair_items_by_probability
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store

    started = time.perf_counter()
    with Store(store_file) as store:
        judge = EngineJudge(resolve_model(args.judge), store=store, spec=args.judge, progress=False,
                            settings=AnswerSettings(device="cpu", batch_size=args.batch_size))
        judged = judge_pair_items_by_probability(items, judge=judge)
    assert judged is not None
    return time.perf_counter() - started, judged


def serve_side(args: argparse.Namespace, items: list[Any], store_file: Path) -> tuple[float, list[Any]]:
    from evalkit.judge.client import OpenAIJudgeClient, RetryPolicy, judge_fingerprint
    from evalkit.judge.prompts import PROMPT_VERSION
    from evalkit.judge.protocol import judge_pair_items
    from evalkit.judge.server import local_judge_server
    from evalkit.models.resolve import resolve_model
    from evalkit.store import Store

    started = time.perf_counter()
    ref = resolve_model(args.judge)
    with Store(store_file) as store, local_judge_server(args.judge, device="cpu", dtype="float32") as server:
        client = OpenAIJudgeClient(server.base_url, server.model_id, "EMPTY", store=store,
                                   prompt_version=PROMPT_VERSION, endpoint="local", model=args.judge,
                                   fingerprint=judge_fingerprint("local", ref.fingerprint),
                                   policy=RetryPolicy(max_attempts=3, timeout_s=1800.0, total_s=3600.0))
        try:
            judged = judge_pair_items(items, judge=client, max_tokens=args.serve_max_tokens)
        finally:
            client.close()
    return time.perf_counter() - started, judged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="smollm2-135m-instruct")
    parser.add_argument("--a", default="smollm2-135m-instruct", help="contestant A")
    parser.add_argument("--b", default="gemma3-270m", help="contestant B")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--max-answer-tokens", type=int, default=256)
    parser.add_argument("--serve-max-tokens", type=int, default=1024,
                        help="the judge's longest explanation on the serve side (evalkit judge's default)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from evalkit.cli import install_environment
    from evalkit.judge.interfaces import Outcome
    from evalkit.judge.protocol import pair_items

    install_environment()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="evalkit-judge-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    questions, answers_a, answers_b, answers_db = prepare(args, workdir)
    items = pair_items(questions, answers_a, answers_b, model_a=args.a, model_b=args.b)
    figures: dict[str, Any] = {"questions": len(items), "judge": args.judge}
    for side, run in (("engine", engine_side), ("serve", serve_side)):
        store_file = workdir / f"{side}.db"
        shutil.copy(answers_db, store_file)  # the answers, and no judgment yet
        print(f"{side}: judging {len(items)} questions x 2 orders ...", file=sys.stderr, flush=True)
        seconds, judged = run(args, items, store_file)
        unscored = sum(j.outcome is Outcome.UNSCORED for j in judged)
        figures[side] = {"seconds": seconds, "unscored": unscored,
                         "outcomes": {o.value: sum(j.outcome is o for j in judged) for o in Outcome}}
        print(f"{side:>6}: {seconds:8.1f} s  unscored {unscored}/{len(judged)}", flush=True)
    ratio = figures["serve"]["seconds"] / figures["engine"]["seconds"]
    figures["speedup"] = ratio
    print(f"engine is {ratio:.1f}x faster than transformers serve (target >= 10x)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
