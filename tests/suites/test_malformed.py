"""Each malformed suite gets exactly one line naming file:line:column and the field, exit code 2,
no traceback, and leaves nothing behind (no output folder, no results store)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

GOOD_TASK = """\
  - name: ppl
    evaluator: perplexity
    dataset: {path: json, data_files: texts.jsonl}
"""

# (suite text, expected line, expected column, expected field, a fragment of the message)
CASES = {
    "unknown_evaluator": ("suite: s\ntasks:\n" + GOOD_TASK + "  - name: b\n    evaluator: mmlu2\n",
                          7, 5, "tasks[1].evaluator", "unknown evaluator 'mmlu2' (known: generation_metrics"),
    "unknown_top_key": ("suite: s\ntasks:\n" + GOOD_TASK + "taks: []\n", 6, 1, "taks", "unknown field"),
    "unknown_setting": ("suite: s\ntasks:\n" + GOOD_TASK + "    text_feild: body\n", 6, 5,
                        "tasks[0].text_feild", "unknown field for evaluator 'perplexity'"),
    "missing_name": ("suite: s\ntasks:\n  - evaluator: perplexity\n    dataset: {path: json, data_files: x.jsonl}\n",
                     3, 5, "tasks[0].name", "required field is missing"),
    "missing_suite_key": ("tasks:\n" + GOOD_TASK, 1, 1, "suite", "required field is missing"),
    "duplicate_key": ("suite: s\nsuite: t\ntasks:\n" + GOOD_TASK, 2, 1, "suite", "duplicate key"),
    "bad_batch_size": ("suite: s\ndefaults:\n  batch_size: huge\ntasks:\n" + GOOD_TASK, 3, 3,
                       "defaults.batch_size", "huge"),
    "negative_limit": ("suite: s\ndefaults:\n  limit: -3\ntasks:\n" + GOOD_TASK, 3, 3, "defaults.limit",
                       "greater than or equal to 1"),
    "bad_temperature": ("suite: s\ndefaults:\n  generation:\n    temperature: -1\ntasks:\n" + GOOD_TASK, 4, 5,
                        "defaults.generation.temperature", "greater than or equal to 0"),
    "duplicate_task_name": ("suite: s\ntasks:\n" + GOOD_TASK + GOOD_TASK, 6, 5, "tasks[1].name", "used twice"),
    "yaml_syntax": ("suite: s\ntasks:\n  - name: [unclosed\n", 4, 1, "", "invalid YAML"),
    "task_not_mapping": ("suite: s\ntasks:\n  - just a string\n", 3, 5, "tasks[0]",
                         "input should be a valid dictionary"),
    "missing_include": ("suite: s\ninclude: [nowhere.yaml]\ntasks:\n" + GOOD_TASK, 2, 11, "include[0]",
                        "no such file"),
    "unknown_metric": (("suite: s\ntasks:\n  - name: g\n    evaluator: reference_metrics\n"
                       "    dataset: {path: json, data_files: x.jsonl}\n    metrics: [bleu, meteor]\n"),
                       6, 5, "tasks[0].metrics", "meteor"),
    "dataset_extra_key": (("suite: s\ntasks:\n  - name: p\n    evaluator: perplexity\n"
                          "    dataset: {path: json, data_file: x.jsonl}\n"), 5, 27, "tasks[0].dataset.data_file",
                          "unknown field for this section (did you mean 'data_files'? "
                          "known: data_files, name, path, revision, split)"),
    "batch_size_zero": ("suite: s\ndefaults:\n  batch_size: 0\ntasks:\n" + GOOD_TASK, 3, 3, "defaults.batch_size",
                        "greater than or equal to 1 or input should be 'auto', got 0"),
    # Files named in a suite are checked when it is loaded, relative to the suite file.
    "missing_data_file": ("suite: s\ntasks:\n" + GOOD_TASK, 5, 27, "tasks[0].dataset.data_files",
                          "no such file '"),
    "missing_data_file_in_list": (("suite: s\ntasks:\n  - name: p\n    evaluator: perplexity\n"
                                   "    dataset:\n      path: json\n      data_files: [x.jsonl]\n"), 7, 20,
                                  "tasks[0].dataset.data_files[0]", "x.jsonl'"),
    "bad_task_name": (("suite: s\ntasks:\n  - name: 'has space'\n    evaluator: perplexity\n"
                      "    dataset: {path: json, data_files: x.jsonl}\n"), 3, 5, "tasks[0].name", "pattern"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_malformed_suite_one_line_exit_2(case: str, command: str, tmp_path: Path, evalkit_env: Path) -> None:
    text, line, column, field, fragment = CASES[case]
    suite = tmp_path / "bad.yaml"
    suite.write_text(textwrap.dedent(text))
    out_dir = tmp_path / "out"
    if command == "validate":
        proc = run_cli("suites", "validate", str(suite))
    else:
        proc = run_cli("run", str(suite), "--model", "smollm2-135m-instruct", "--output", str(out_dir))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    prefix = f"{suite}:{line}:{column}: " + (f"{field}: " if field else "")
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    assert fragment in lines[0]
    assert not out_dir.exists()
    assert not evalkit_env.exists()  # no store was created


def test_at_least_ten_cases() -> None:
    assert len(CASES) >= 10


def test_bad_flag_value_exits_2() -> None:
    proc = run_cli("run", "suites/quickstart.yaml", "--batch-size", "zero")
    assert proc.returncode == 2
    assert "expected a positive integer or 'auto'" in proc.stderr


def test_batch_size_zero_flag_is_one_line(tmp_path: Path, evalkit_env: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n" + GOOD_TASK)
    (tmp_path / "texts.jsonl").write_text('{"text": "a"}\n')
    proc = run_cli("run", str(suite), "--batch-size", "0", "--output", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr == ("evalkit run: argument --batch-size: expected a positive integer or 'auto', got '0' "
                           "(see evalkit run --help)\n")
    assert not (tmp_path / "out").exists()
    assert not evalkit_env.exists()


def test_missing_data_file_is_named_with_its_suite_line(tmp_path: Path, evalkit_env: Path) -> None:
    """Reported at load time: before any progress bar, model or data set, as a suite error."""
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n" + GOOD_TASK)
    proc = run_cli("run", str(suite), "--model", "smollm2-135m-instruct", "--output", str(tmp_path / "out"))
    assert proc.returncode == 2
    expected = f"{suite}:5:27: tasks[0].dataset.data_files: no such file '{tmp_path / 'texts.jsonl'}'\n"
    assert proc.stderr == expected
    assert not (tmp_path / "out").exists()
    assert not evalkit_env.exists()


def test_data_files_resolve_relative_to_the_suite_file(tmp_path: Path) -> None:
    """A file next to the suite is found whatever the working folder; so is one in an included file's folder."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "texts.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "inc" / "part.yaml").write_text("suite: part\ntasks:\n" + GOOD_TASK)
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ninclude: [inc/part.yaml]\n")
    proc = run_cli("suites", "validate", str(suite), cwd=REPO / "evalkit")
    assert proc.returncode == 0, proc.stderr


def test_valid_suites_in_repo_validate() -> None:
    for suite in sorted(Path("suites").glob("*.yaml")):
        proc = run_cli("suites", "validate", str(suite))
        assert proc.returncode == 0, proc.stderr
