"""evalkit's humaneval against lm-eval 0.4.13's humaneval tasks, item by item, on tiny models.

Both harnesses run the same model (float32, CPU, batch 8) on the same first problems with the same
small ``max_gen_toks`` (lm-eval through ``gen_kwargs``, evalkit through the suite). The prompts,
the generated text, the filtered candidate programs and pass@1 (per item and overall) must be
identical. The scripted model writes a real solution, so one problem passes and pass@1 is not
trivially zero; the random model checks the text on unscripted output; the instruct variant
checks the chat-template prompt with lm-eval's gen_prefix and the code-fence cut.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.parity.lm_eval_humaneval import (
    evalkit_suite,
    read_samples,
    run_lm_eval,
    write_lm_eval_task,
    write_problems,
)
from tests.evaluators.conftest import SCRIPTED_COMPLETION

N_PROBLEMS = 6
MAX_GEN_TOKS = 24
INSTRUCT_PROBLEMS = 3


def _evalkit_run(root: Path, model_dir: Path, tasks: list[dict[str, Any]]) -> Path:
    from evalkit.config import RunConfig
    from evalkit.runner import run_suite
    from evalkit.suites import load_suite

    suite = load_suite(evalkit_suite(root / "suite.yaml", tasks, MAX_GEN_TOKS))
    out = root / "evalkit-out"
    run_suite(suite, RunConfig.resolve(suite, model=str(model_dir), store_path=root / "store.db", output=out,
                                       batch_size=8, device="cpu", dtype="float32"))
    return out


def _compare(lm: dict[str, Any], ek_samples: list[dict[str, Any]], ek_results: dict[str, Any]) -> None:
    lm_samples = lm["samples"]
    assert [s["doc_id"] for s in lm_samples] == [r["doc_id"] for r in ek_samples]
    for lm_s, ek_s in zip(lm_samples, ek_samples):
        doc = ek_s["doc"]["task_id"]
        assert lm_s["doc"]["task_id"] == doc
        assert lm_s["arguments"][0][0] == ek_s["arguments"][0][0], f"{doc}: prompts differ"
        assert list(lm_s["arguments"][0][1]["until"]) == ek_s["arguments"][0][1]["until"]
        assert lm_s["resps"][0] == ek_s["resps"], f"{doc}: completions differ"
        assert lm_s["filtered_resps"][0] == ek_s["filtered_resps"], f"{doc}: candidate programs differ"
        assert lm_s["filter"] == ek_s["filter"] == "create_test"
        assert lm_s["pass@1"] == ek_s["pass@1"], f"{doc}: pass@1 differs"
        assert lm_s["target"] == ek_s["target"]
    assert lm["results"]["pass@1,create_test"] == pytest.approx(ek_results["pass@1,create_test"], abs=1e-12)
    assert lm["results"]["pass@1_stderr,create_test"] == pytest.approx(ek_results["pass@1_stderr,create_test"])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, problems: list[dict[str, Any]]) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("humaneval-data")
    base = write_problems(root / "first.jsonl", problems[:N_PROBLEMS])
    tasks = root / "lm_eval_tasks"
    write_lm_eval_task(tasks, "humaneval_local", base, "base")
    write_lm_eval_task(tasks, "humaneval_instruct_local", base, "instruct")
    return base, tasks


@pytest.mark.parametrize("model", ["scripted", "random"])
def test_greedy_completions_and_pass_at_1_match_lm_eval(model: str, data: tuple[Path, Path], tmp_path: Path,
                                                        scripted_coder_dir: Path, tiny_model_dir: Path) -> None:
    model_dir = scripted_coder_dir if model == "scripted" else tiny_model_dir
    problems_file, tasks_dir = data
    ek_out = _evalkit_run(tmp_path, model_dir, [
        {"name": "humaneval_local", "evaluator": "humaneval", "dataset": {"path": str(problems_file)}}])
    lm = run_lm_eval(model_dir, tasks_dir, "humaneval_local", limit=N_PROBLEMS, max_gen_toks=MAX_GEN_TOKS)
    ek_samples = read_samples(ek_out / "samples_humaneval_local.jsonl")
    ek_results = json.loads((ek_out / "results.json").read_text())["results"]["humaneval_local"]
    _compare(lm, ek_samples, ek_results)
    assert len(ek_samples) == N_PROBLEMS
    if model == "scripted":  # the script really ran: HumanEval/2 passes, the others do not
        assert all(s["resps"] == [SCRIPTED_COMPLETION] for s in ek_samples)
        assert [s["pass@1"] for s in ek_samples] == [1.0 if i == 2 else 0.0 for i in range(N_PROBLEMS)]
        assert ek_results["pass@1,create_test"] == pytest.approx(1 / N_PROBLEMS)


def test_instruct_variant_matches_lm_eval_humaneval_instruct(data: tuple[Path, Path], tmp_path: Path,
                                                            tiny_model_dir: Path) -> None:
    problems_file, tasks_dir = data
    ek_out = _evalkit_run(tmp_path, tiny_model_dir, [
        {"name": "humaneval_instruct_local", "evaluator": "humaneval", "variant": "instruct",
         "dataset": {"path": str(problems_file)}, "limit": INSTRUCT_PROBLEMS}])
    lm = run_lm_eval(tiny_model_dir, tasks_dir, "humaneval_instruct_local", limit=INSTRUCT_PROBLEMS,
                     max_gen_toks=MAX_GEN_TOKS, apply_chat_template=True)
    ek_samples = read_samples(ek_out / "samples_humaneval_instruct_local.jsonl")
    ek_results = json.loads((ek_out / "results.json").read_text())["results"]["humaneval_instruct_local"]
    _compare(lm, ek_samples, ek_results)
    context = ek_samples[0]["arguments"][0][0]
    assert context.startswith("<|im_start|>") and context.endswith(
        "<|im_start|>assistant\nHere is the completed function:\n```python\n" + ek_samples[0]["doc"]["prompt"] + "\n")

