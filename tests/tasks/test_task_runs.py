"""Task files run end to end through ``evalkit run`` on the tiny random Llama: the README's own example,
groups, a suite mixing task files and evaluators, rolling log-likelihood against the perplexity evaluator,
``evaluate:`` metrics behind ``--allow-task-code``, and the cache."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli, write_jsonl

EXAMPLE = REPO / "docs" / "examples" / "capitals"


def _run(target: Path | str, model: Path, out: Path, *extra: str) -> dict[str, Any]:
    proc = run_cli("run", str(target), "--model", str(model), "--output", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())


def _samples(out: Path, task: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"samples_{task}.jsonl").read_text().splitlines()]


def test_the_readme_example_runs_with_its_prompt_shots_and_metrics(tmp_path: Path, tiny_model_dir: Path,
                                                                   evalkit_env: Path) -> None:
    results = _run(EXAMPLE / "capitals.yaml", tiny_model_dir, tmp_path / "mc")
    block = results["results"]["capitals"]
    samples = _samples(tmp_path / "mc", "capitals")
    assert len(samples) == results["n-samples"]["capitals"]["effective"] == 7
    assert results["versions"]["capitals"] == 1.0
    # The prompt, written out by hand: the description, the first two dev questions (first_n), the question.
    first = samples[0]
    context = ("Answer with the name of the city.\n\nWhat is the capital of France?\nAnswer: Paris\n\n"
               "What is the capital of Japan?\nAnswer: Tokyo\n\nWhat is the capital of Australia?\nAnswer:")
    assert first["arguments"] == [[context, " " + c] for c in ("Sydney", "Melbourne", "Perth", "Canberra")]
    assert first["target"] == 3
    # acc is the argmax of the four log-likelihoods; acc_norm divides by the choice's length in characters.
    for s in samples:
        lls = [r[0] for r in s["filtered_resps"]]
        choices = s["doc"]["options"]
        assert s["acc"] == float(lls.index(max(lls)) == s["doc"]["answer"])
        normed = [ll / len(c) for ll, c in zip(lls, choices)]
        assert s["acc_norm"] == float(normed.index(max(normed)) == s["doc"]["answer"])
    accs = [s["acc"] for s in samples]
    mean = sum(accs) / len(accs)
    assert block["acc,none"] == pytest.approx(mean)
    stderr = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1) / len(accs))
    assert block["acc_stderr,none"] == pytest.approx(stderr)

    again = run_cli("run", str(EXAMPLE / "capitals.yaml"), "--model", str(tiny_model_dir), "--output",
                    str(tmp_path / "again"))
    assert again.returncode == 0 and "recomputed nothing" in again.stdout


def test_the_generation_variant_filters_then_scores(tmp_path: Path, tiny_model_dir: Path) -> None:
    results = _run(EXAMPLE / "capitals_generate.yaml", tiny_model_dir, tmp_path / "gen")
    samples = _samples(tmp_path / "gen", "capitals_generate")
    assert {s["filter"] for s in samples} == {"first-word"}
    for s in samples:
        context, kwargs = s["arguments"][0]
        assert context.endswith(f"What is the capital of {s['doc']['country']}?\nAnswer:")
        assert kwargs == {"until": ["\n", "."], "max_gen_toks": 12}
        import re

        found = re.findall(r"([A-Z][a-z]+)", s["resps"][0])
        assert s["filtered_resps"] == [found[0] if found else "[invalid]"]
        assert s["exact_match"] == float(s["filtered_resps"][0].lower() == s["target"].lower())
    mean = sum(s["exact_match"] for s in samples) / len(samples)
    assert results["results"]["capitals_generate"]["exact_match,first-word"] == pytest.approx(mean)


def test_a_group_reports_the_size_weighted_mean_and_pooled_stderr(tmp_path: Path, tiny_model_dir: Path) -> None:
    write_jsonl(tmp_path / "other.jsonl", [{"country": c, "options": [c + "ville", "Capital City"], "answer": i % 2}
                                           for i, c in enumerate(["Aa", "Bb", "Cc", "Dd"])])
    (tmp_path / "other.yaml").write_text(f"""
include: {EXAMPLE / 'capitals.yaml'}
task: other_capitals
dataset_kwargs: {{data_files: {{test: other.jsonl}}}}
num_fewshot: 0
""")
    (tmp_path / "group.yaml").write_text("""
group: all_capitals
task:
  - capitals
  - other_capitals
aggregate_metric_list:
  - metric: acc
    weight_by_size: true
""")
    (tmp_path / "capitals.yaml").symlink_to(EXAMPLE / "capitals.yaml")
    results = _run(tmp_path / "group.yaml", tiny_model_dir, tmp_path / "out")["results"]
    a, b = results["capitals"], results["other_capitals"]
    na, nb = 7, 4
    assert results["all_capitals"]["acc,none"] == pytest.approx((a["acc,none"] * na + b["acc,none"] * nb) / (na + nb))
    pooled = math.sqrt(((na - 1) * a["acc_stderr,none"] ** 2 * na + (nb - 1) * b["acc_stderr,none"] ** 2 * nb)
                       / (na + nb - 2) / (na + nb))
    assert results["all_capitals"]["acc_stderr,none"] == pytest.approx(pooled)
    assert "acc_norm,none" not in results["all_capitals"]  # only the metrics the group lists


def test_a_suite_lists_task_files_beside_evaluators(tmp_path: Path, tiny_model_dir: Path) -> None:
    write_jsonl(tmp_path / "texts.jsonl", [{"text": "The keeper climbed the stairs at dusk."},
                                           {"text": "Short text.\nTwo lines."}])
    (tmp_path / "rolling.yaml").write_text("""
task: rolling_ppl
dataset_path: json
dataset_kwargs: {data_files: {test: texts.jsonl}}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
""")
    (tmp_path / "suite.yaml").write_text(f"""
suite: mixed
tasks:
  - name: ppl
    evaluator: perplexity
    dataset: {{path: json, data_files: texts.jsonl}}
  - task: rolling.yaml
  - task: {EXAMPLE / 'capitals.yaml'}
    num_fewshot: 0
""")
    results = _run(tmp_path / "suite.yaml", tiny_model_dir, tmp_path / "out")["results"]
    # lm-eval's default metrics for a rolling task are the perplexity evaluator's definitions.
    for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert results["rolling_ppl"][f"{metric},none"] == pytest.approx(results["ppl"][f"{metric},none"], rel=1e-9)
    shots = _samples(tmp_path / "out", "capitals")[0]["arguments"][0][0]
    assert shots == "Answer with the name of the city.\n\nWhat is the capital of Australia?\nAnswer:"
    db = sqlite3.connect(evalkit_db(tmp_path))
    tasks = {row[0] for row in db.execute("SELECT DISTINCT task FROM results")}
    assert {"ppl", "rolling_ppl", "capitals"} <= tasks


def evalkit_db(tmp_path: Path) -> Path:
    import os

    return Path(os.environ["EVALKIT_HOME"]) / "evalkit.db"


METRIC_MODULE = '''
import datasets
import evaluate
from pathlib import Path

Path(MARK).write_text("the module ran")


class FirstLetter(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(description="same first letter", citation="", inputs_description="",
                                   features=datasets.Features({"predictions": datasets.Value("string"),
                                                               "references": datasets.Value("string")}))

    def _compute(self, predictions, references):
        same = [p.strip()[:1].lower() == r.strip()[:1].lower() for p, r in zip(predictions, references)]
        return {"first_letter": sum(same) / len(same)}
'''


def test_an_evaluate_metric_is_local_code_and_needs_allow_task_code(tmp_path: Path, tiny_model_dir: Path) -> None:
    # evaluate copies a module into its own cache before importing it: the mark's path is absolute.
    (tmp_path / "first_letter.py").write_text(METRIC_MODULE.replace("MARK", repr(str(tmp_path / "imported.mark"))))
    (tmp_path / "task.yaml").write_text(f"""
include: {EXAMPLE / 'capitals_generate.yaml'}
task: capitals_letter
filter_list: null
metric_list:
  - metric: evaluate:first_letter.py
    aggregation: mean
    higher_is_better: true
""")
    refused = run_cli("run", str(tmp_path / "task.yaml"), "--model", str(tiny_model_dir), "--output",
                      str(tmp_path / "no"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "task.yaml:" in refused.stderr and "metric_list[0].metric" in refused.stderr
    assert "--allow-task-code" in refused.stderr
    assert not (tmp_path / "imported.mark").exists() and not (tmp_path / "no").exists()

    results = _run(tmp_path / "task.yaml", tiny_model_dir, tmp_path / "yes", "--allow-task-code")
    samples = _samples(tmp_path / "yes", "capitals_letter")
    expected = [float(s["resps"][0].strip()[:1].lower() == s["target"][:1].lower()) for s in samples]
    assert [s["first_letter"] for s in samples] == expected
    assert results["results"]["capitals_letter"]["first_letter,none"] == pytest.approx(sum(expected) / len(expected))
    assert (tmp_path / "imported.mark").exists()


def test_a_task_file_entry_refuses_what_it_would_ignore(tmp_path: Path) -> None:
    from evalkit.errors import ConfigError
    from evalkit.suites import load_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text("suite: s\ntasks:\n  - task: arc_easy\n    generation: {max_gen_toks: 5}\n")
    with pytest.raises(ConfigError) as exc:
        load_suite(suite)
    assert str(exc.value).startswith(f"{suite}:4:5: tasks[0].generation: a task file generates as its own")
    suite.write_text("suite: s\ntasks:\n  - task: arc_easy\n    dataset: {path: json}\n")
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.dataset: a task file names its own data"):
        load_suite(suite)


def test_a_loglikelihood_task_scores_the_target_after_the_context(tmp_path: Path, tiny_model_dir: Path) -> None:
    write_jsonl(tmp_path / "words.jsonl", [{"text": "The keeper climbed the stairs at", "last": " dusk"},
                                           {"text": "Two plus two is", "last": " four"}])
    (tmp_path / "last_word.yaml").write_text("""
task: last_word
dataset_path: json
dataset_kwargs: {data_files: {test: words.jsonl}}
test_split: test
output_type: loglikelihood
doc_to_text: text
doc_to_target: last
""")
    results = _run(tmp_path / "last_word.yaml", tiny_model_dir, tmp_path / "out")["results"]["last_word"]
    samples = _samples(tmp_path / "out", "last_word")
    assert [s["arguments"] for s in samples] == [[["The keeper climbed the stairs at", " dusk"]],
                                                 [["Two plus two is", " four"]]]
    lls = [s["filtered_resps"][0][0] for s in samples]
    # lm-eval's defaults for loglikelihood: perplexity (exp of the negative mean log-likelihood) and acc (greedy).
    assert [s["perplexity"] for s in samples] == lls
    assert results["perplexity,none"] == pytest.approx(math.exp(-sum(lls) / len(lls)))
    assert results["acc,none"] == pytest.approx(sum(float(s["filtered_resps"][0][1]) for s in samples) / 2)
