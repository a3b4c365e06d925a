"""``evalkit run`` end to end: outputs, the store, caching, resume after SIGKILL, perplexity."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.config import RunConfig
from evalkit.engine.requests import Request
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, EvaluatorSettings, register_evaluator
from evalkit.runner import run_suite
from evalkit.scores import ItemScore
from evalkit.store import Store
from evalkit.suites import load_suite
from tests.conftest import REPO, run_cli, write_jsonl

PPL_TEXT = ("The lighthouse keeper climbed the spiral stairs every evening at dusk. He wound the clockwork, "
            "trimmed the wick and wiped the salt from the great lens.")


def make_suite(tmp_path: Path, n_prompts: int = 12, max_gen_toks: int = 8) -> Path:
    write_jsonl(tmp_path / "texts.jsonl", [{"text": PPL_TEXT}, {"text": "Short text.\nTwo lines."}])
    write_jsonl(tmp_path / "qa.jsonl", [{"prompt": f"Question {i}: name a colour.", "references": ["Blue.", "Red"]}
                                        for i in range(n_prompts)])
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""
suite: mini
defaults: {{batch_size: 2, generation: {{max_gen_toks: {max_gen_toks}}}}}
tasks:
  - name: ppl
    evaluator: perplexity
    dataset: {{path: json, data_files: texts.jsonl}}
  - name: answers
    evaluator: generation_metrics
    dataset: {{path: json, data_files: qa.jsonl}}
    apply_chat_template: true
    metrics: [bleu, chrf, rouge]
""")
    return suite


def test_run_writes_lm_eval_style_results_and_samples(tmp_path: Path, tiny_model_dir: Path, evalkit_env: Path) -> None:
    suite = make_suite(tmp_path)
    out = tmp_path / "out"
    proc = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "bleu" in proc.stdout and "word_perplexity" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == {"ppl", "answers"}
    assert "bleu,none" in results["results"]["answers"] and "bleu_stderr,none" in results["results"]["answers"]
    assert results["results"]["ppl"]["word_perplexity_stderr,none"] == "N/A"
    assert results["n-samples"]["answers"] == {"original": 12, "effective": 12}
    config = results["config"]
    assert config["model_fingerprint"] and config["suite_sha256"] and config["versions"]["torch"]
    samples = [json.loads(line) for line in (out / "samples_answers.jsonl").read_text().splitlines()]
    assert len(samples) == 12
    first = samples[0]
    assert {"doc_id", "doc", "arguments", "resps", "filtered_resps", "target", "bleu", "rouge1"} <= set(first)
    assert first["arguments"][0][0].startswith("<|im_start|>")  # the chat template was applied
    # The store holds the same numbers.
    store = Store(evalkit_env / "evalkit.db")
    run = store.get_run(results["run_id"])
    assert run is not None and run["run"]["status"] == "finished"
    stored = {(r.task, r.metric): r.value for r in run["results"]}
    assert stored[("answers", "bleu")] == results["results"]["answers"]["bleu,none"]
    assert len(store.get_samples(results["run_id"], "answers")) == 12
    # The results commands read it back.
    listed = run_cli("results", "list")
    assert results["run_id"] in listed.stdout
    shown = run_cli("results", "show", results["run_id"][:30])
    assert "word_perplexity" in shown.stdout
    exported = json.loads(run_cli("results", "export", results["run_id"], "--format", "json").stdout)
    assert exported["results"]["answers"]["bleu,none"] == results["results"]["answers"]["bleu,none"]
    csv_lines = run_cli("results", "export", results["run_id"], "--format", "csv").stdout.splitlines()
    assert csv_lines[0].startswith("run_id,task,metric")


def test_rerun_recomputes_nothing(tmp_path: Path, tiny_model_dir: Path) -> None:
    suite = make_suite(tmp_path)
    first = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(tmp_path / "a"))
    assert "computed 14;" in first.stdout, first.stdout
    second = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(tmp_path / "b"))
    assert "14 from cache, recomputed nothing" in second.stdout, second.stdout
    a = json.loads((tmp_path / "a" / "results.json").read_text())["results"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["results"]
    assert a == b


def _cached_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM request_cache WHERE model_fingerprint NOT LIKE 'scores:%'"
                                ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkilled_run_resumes_with_identical_results(tmp_path: Path, tiny_model_dir: Path,
                                                       evalkit_env: Path) -> None:
    suite = make_suite(tmp_path, n_prompts=40, max_gen_toks=48)
    total = 42  # 2 texts + 40 prompts
    # The reference: an uninterrupted run with its own store.
    ref_env = {"EVALKIT_HOME": str(tmp_path / "ref-home")}
    ref = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(tmp_path / "ref"),
                  "--batch-size", "1", env=ref_env)
    assert ref.returncode == 0, ref.stderr
    # The interrupted run: SIGKILL once some, but not all, answers are in the store.
    db = evalkit_env / "evalkit.db"
    proc = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", str(suite), "--model", str(tiny_model_dir),
                             "--output", str(tmp_path / "killed"), "--batch-size", "1"], cwd=REPO,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _cached_count(db) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _cached_count(db)
    assert 0 < done_before < total, done_before
    resumed = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(tmp_path / "resumed"),
                      "--batch-size", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} from cache, computed {total - done_before};" in resumed.stdout, resumed.stdout
    a = json.loads((tmp_path / "ref" / "results.json").read_text())["results"]
    b = json.loads((tmp_path / "resumed" / "results.json").read_text())["results"]
    assert a == b
    ref_samples = (tmp_path / "ref" / "samples_answers.jsonl").read_text()
    assert ref_samples == (tmp_path / "resumed" / "samples_answers.jsonl").read_text()


def test_default_model_perplexity_equals_direct_transformers(tmp_path: Path, default_model_dir: Path) -> None:
    write_jsonl(tmp_path / "t.jsonl", [{"text": PPL_TEXT}])
    suite = tmp_path / "ppl.yaml"
    suite.write_text("suite: ppl\ntasks:\n  - name: ppl\n    evaluator: perplexity\n"
                     "    dataset: {path: json, data_files: t.jsonl}\n")
    proc = run_cli("run", str(suite), "--model", "smollm2-135m-instruct", "--output", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    sample = json.loads((tmp_path / "o" / "samples_ppl.jsonl").read_text().splitlines()[0])
    ours_logprob, ours_tokens = sample["resps"][0]
    # Independent computation: the whole text after the BOS token, one forward pass.
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    model = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    ids = tokenizer.encode(PPL_TEXT)
    inputs = torch.tensor([[tokenizer.bos_token_id] + ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(inputs).logits[0, :-1], dim=-1)
    direct = float(logprobs[torch.arange(len(ids)), torch.tensor(ids)].sum())
    assert ours_tokens == len(ids)
    assert abs(ours_logprob - direct) <= 1e-4
    results = json.loads((tmp_path / "o" / "results.json").read_text())["results"]["ppl"]
    words = len(PPL_TEXT.split())
    assert math.isclose(results["word_perplexity,none"], math.exp(-direct / words), rel_tol=1e-4)
    assert math.isclose(results["token_perplexity,none"], math.exp(-direct / len(ids)), rel_tol=1e-4)
    n_bytes = len(PPL_TEXT.encode())
    assert math.isclose(results["bits_per_byte,none"], -direct / n_bytes / math.log(2), rel_tol=1e-4)


def test_results_record_the_limit_each_task_ran_with(tmp_path: Path, tiny_model_dir: Path) -> None:
    make_suite(tmp_path, n_prompts=5)
    suite = tmp_path / "limits.yaml"
    suite.write_text("""
suite: limits
defaults: {limit: 3, generation: {max_gen_toks: 4}}
tasks:
  - name: ppl
    evaluator: perplexity
    dataset: {path: json, data_files: texts.jsonl}
    limit: 1
  - name: answers
    evaluator: generation_metrics
    dataset: {path: json, data_files: qa.jsonl}
    metrics: [chrf]
""")
    proc = run_cli("run", str(suite), "--model", str(tiny_model_dir), "--output", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["config"]["limits"] == {"ppl": 1, "answers": 3}
    assert results["config"]["n_effective"] == {"ppl": 1, "answers": 3}
    assert results["n-samples"] == {"ppl": {"original": 2, "effective": 1}, "answers": {"original": 5, "effective": 3}}


@register_evaluator("test_field_reader")
class _FieldReader(Evaluator):
    """Reads the document field its settings name; a document without it is a data problem."""

    class Settings(EvaluatorSettings):
        field: str = "text"

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        assert isinstance(self.settings, _FieldReader.Settings)
        doc[self.settings.field]
        return []

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return [ItemScore("none", [], {"one": 1.0})]


@register_evaluator("test_buggy_lookup")
class _BuggyLookup(_FieldReader):
    """A bug: a lookup in the evaluator's own table fails, whatever the documents hold."""

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        table: dict[str, int] = {}
        return [table["internal"]]  # type: ignore[list-item]


def _run_in_process(tmp_path: Path, evaluator: str, setting: str = "") -> None:
    write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}])
    suite = tmp_path / "s.yaml"
    suite.write_text(f"suite: s\ntasks:\n  - name: t\n    evaluator: {evaluator}\n"
                     f"    dataset: {{path: json, data_files: d.jsonl}}\n{setting}")
    loaded = load_suite(suite)
    run_suite(loaded, RunConfig.resolve(loaded, model=None, store_path=tmp_path / "db", output=tmp_path / "o"))


def test_a_missing_document_field_is_a_data_problem(tmp_path: Path) -> None:
    _run_in_process(tmp_path, "test_field_reader")  # the field is there: runs
    with pytest.raises(UserError, match=r"^task t: documents have no field 'body' \(they have: text\)$"):
        _run_in_process(tmp_path / "missing", "test_field_reader", "    field: body\n")
    assert not (tmp_path / "missing" / "o").exists()


def test_a_keyerror_inside_an_evaluator_is_a_bug(tmp_path: Path) -> None:
    with pytest.raises(KeyError) as info:
        _run_in_process(tmp_path, "test_buggy_lookup")
    assert not isinstance(info.value, UserError) and info.value.args == ("internal",)
