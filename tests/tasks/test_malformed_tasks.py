"""Each malformed task file gets exactly one line on stderr naming file:line:column and the field, exit code 2,
no traceback, nothing written (no run folder, no results store) and no model loaded, through ``evalkit run``
and ``evalkit tasks validate`` alike.

The model given to ``evalkit run`` is a checkpoint folder whose weights are random bytes: it resolves (so the
run gets as far as a real one does before loading), but loading it would fail with a traceback, so a case
whose error came after the model load could not pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalkit import cli
from tests.conftest import run_cli

DOCS = [
    {"question": "Capital of France?", "country": "France", "answers": ["Paris", "Lyon"], "label": 0},
    {"question": "Capital of Peru?", "country": "Peru", "answers": ["Quito", "Lima"], "label": 1},
    {"question": "Capital of Chad?", "country": "Chad", "answers": ["N'Djamena", "Lima"], "label": 0},
]
COLUMNS = "answers, country, label, question"

HEAD = """\
task: t
dataset_path: json
dataset_kwargs:
  data_files: {test: docs.jsonl}
test_split: test
"""
MC = HEAD + """\
output_type: multiple_choice
doc_to_text: "Q: {{question}}\\nA:"
doc_to_target: label
doc_to_choice: "{{answers}}"
"""
GEN = HEAD + """\
output_type: generate_until
doc_to_text: "Q: {{question}}\\nA:"
doc_to_target: "{{answers[0]}}"
"""
# Imported, this module leaves a file beside it: the proof that refused code never ran.
MARK_MODULE = """\
from pathlib import Path

Path(__file__).with_name("MARK").write_text("imported")


def doc_to_text(doc):
    return "Q: " + doc["question"]
"""


@dataclass(frozen=True)
class Case:
    text: str  # the file given to the command (`target`)
    at: str  # the text the error points at: its first occurrence in `in_file`
    field: str
    fragment: str  # a part of the message
    in_file: str = "t.yaml"  # the file the error names
    extra: dict[str, str] = field(default_factory=dict)  # other files of the folder
    target: str = "t.yaml"


CASES: dict[str, Case] = {
    # unknown keys, everywhere, with "did you mean"
    "unknown_top_level_key": Case(MC + "doc_to_txt: x\n", "doc_to_txt", "doc_to_txt",
                                  "unknown field for a task file (did you mean 'doc_to_text'?"),
    "unknown_metric_entry_key": Case(MC + "metric_list:\n  - metric: acc\n    higher_is_beter: true\n",
                                     "higher_is_beter", "metric_list[0].higher_is_beter",
                                     "unknown key for metric 'acc' (did you mean 'higher_is_better'?"),
    "unknown_filter_list_key": Case(GEN + "filter_list:\n  - name: f\n    filters:\n      - function: take_first\n",
                                    "filters", "filter_list[0].filters",
                                    "unknown field for this section (did you mean 'filter'? known: filter, name)"),
    "unknown_filter_option": Case(GEN + "filter_list:\n  - name: f\n    filter:\n      - function: regex\n"
                                        "        regex_patern: 'x'\n", "regex_patern",
                                  "filter_list[0].filter[0].regex_patern",
                                  "filter 'regex' has no parameter 'regex_patern'; did you mean 'regex_pattern'?"),
    "unknown_fewshot_config_key": Case(MC + "fewshot_config:\n  samplr: first_n\n", "samplr",
                                       "fewshot_config.samplr", "did you mean 'sampler'?"),
    "unknown_generation_kwargs_key": Case(GEN + "generation_kwargs:\n  max_gen_tokens: 5\n", "max_gen_tokens",
                                          "generation_kwargs.max_gen_tokens", "did you mean 'max_gen_toks'?"),
    "unknown_dataset_kwargs_key": Case(MC.replace("  data_files:", "  data_file:"), "data_file",
                                       "dataset_kwargs.data_file", "did you mean 'data_files'?"),
    "unknown_group_key": Case("group: g\ntask: [t]\naggregate_metrics:\n  - metric: acc\n", "aggregate_metrics",
                              "aggregate_metrics", "unknown field for a group file (did you mean "
                                                   "'aggregate_metric_list'?", in_file="g.yaml",
                              extra={"t.yaml": MC}, target="g.yaml"),
    # names the registries do not know
    "unknown_metric": Case(MC + "metric_list:\n  - metric: acc_nrom\n", "metric: acc_nrom", "metric_list[0].metric",
                           "unknown metric 'acc_nrom' (did you mean 'acc_norm'?)"),
    "unknown_aggregation": Case(MC + "metric_list:\n  - metric: acc\n    aggregation: meen\n", "aggregation",
                                "metric_list[0].aggregation", "unknown aggregation 'meen' (did you mean 'mean'?)"),
    "unknown_filter": Case(GEN + "filter_list:\n  - name: f\n    filter:\n      - function: take_frist\n",
                           "function: take_frist", "filter_list[0].filter[0].function",
                           "unknown filter 'take_frist' (did you mean 'take_first'?)"),
    "unknown_builtin": Case(MC.replace("doc_to_text: \"Q: {{question}}\\nA:\"",
                                       "doc_to_text: !builtin winogrande.doc_to_txt"), "!builtin", "doc_to_text",
                            "unknown built-in 'winogrande.doc_to_txt' (did you mean winogrande.doc_to_text?)"),
    "python_task_class": Case("class: !function my_tasks.MyTask\n" + MC, "class", "class",
                              "a Python task class is code in a task file and is refused"),
    # what the output type cannot produce, regexes, includes
    "metric_wrong_output_type": Case(MC + "metric_list:\n  - metric: bleu\n", "metric: bleu", "metric_list[0].metric",
                                     "metric 'bleu' cannot be computed for output_type 'multiple_choice'"),
    "multiple_choice_without_choices": Case(MC.replace('doc_to_choice: "{{answers}}"\n', ""), "output_type",
                                            "output_type", "multiple_choice needs doc_to_choice"),
    "filter_regex_does_not_compile": Case(GEN + "filter_list:\n  - name: f\n    filter:\n      - function: regex\n"
                                                "        regex_pattern: '(unclosed'\n", "regex_pattern",
                                          "filter_list[0].filter[0].regex_pattern",
                                          "regex_pattern '(unclosed' is not a valid regular expression"),
    "metric_regex_does_not_compile": Case(GEN + "metric_list:\n  - metric: exact_match\n"
                                                "    regexes_to_ignore: [',', '(bad']\n", "'(bad'",
                                          "metric_list[0].regexes_to_ignore[1]",
                                          "'(bad' is not a valid regular expression"),
    "include_cycle": Case("include: b.yaml\n" + MC, "include", "include", "include cycle: a.yaml -> b.yaml -> a.yaml",
                          in_file="b.yaml", extra={"b.yaml": "include: a.yaml\n"}, target="a.yaml"),
    "missing_include": Case("include: common/nowhere.yaml\n" + MC, "include", "include",
                            "no such file 'common/nowhere.yaml' (relative to "),
    "duplicate_key": Case(MC + "doc_to_text: question\n", "doc_to_text: question", "doc_to_text", "duplicate key"),
    "boolean_target": Case(MC.replace("doc_to_target: label", "doc_to_target: yes"), "doc_to_target",
                           "doc_to_target", "True is a boolean"),
    # found by rendering every document at load
    "missing_column": Case(MC.replace("{{question}}", "{{questoin}}"), "doc_to_text", "doc_to_text",
                           "document 0: template uses 'questoin', which the document does not have"),
    "missing_column_in_description": Case(MC + 'description: "About {{topic}}\\n"\n', "description", "description",
                                          "document 0: template uses 'topic'"),
    "gold_out_of_range": Case(MC.replace("doc_to_target: label",
                                         "doc_to_target: \"{{ 5 if country == 'Chad' else label }}\""),
                              "doc_to_target", "doc_to_target",
                              "document 2: gold 5 is not a choice index in 0..1 nor one of the choices"),
    "choices_not_a_list": Case(MC.replace('doc_to_choice: "{{answers}}"', "doc_to_choice: country"), "doc_to_choice",
                               "doc_to_choice", "document 0: expected a list of choices, got 'France'"),
    "single_brace_placeholder": Case(MC.replace("Q: {{question}}", "Q: what is the capital of {country}?"),
                                     "doc_to_text", "doc_to_text",
                                     "{country} in single braces names a column but is not a Jinja placeholder"),
    "template_escape": Case(MC.replace("Q: {{question}}", "Q: {{ ''.__class__.__mro__ }}"), "doc_to_text",
                            "doc_to_text", "template reaches for '__class__' (refused)"),
    # code
    "untrusted_function": Case(MC.replace("doc_to_text: \"Q: {{question}}\\nA:\"",
                                          "doc_to_text: !function mark.doc_to_text"), "!function", "doc_to_text",
                               "!function mark.doc_to_text is code in a task file and is refused (pass "
                               "--allow-task-code", extra={"mark.py": MARK_MODULE}),
}

# Where the message must name the document's template and columns, as point 2 of the issue asks.
DOCUMENT_CASES = {"missing_column": "(template 'Q: {{questoin}}\\nA:')",
                  "gold_out_of_range": "(template \"{{ 5 if country == 'Chad' else label }}\")",
                  "choices_not_a_list": "(template 'country')",
                  "template_escape": "(template \"Q: {{ ''.__class__.__mro__ }}\\nA:\")"}


def write_case(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (folder / case.target).write_text(case.text)
    for name, text in case.extra.items():
        (folder / name).write_text(text)
    return folder / case.target


def expected_prefix(case: Case, folder: Path) -> str:
    """``file:line:col: field: `` where ``case.at`` first occurs in the file the error names."""
    path = folder / case.in_file
    text = path.read_text()
    offset = text.index(case.at)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{path}:{line}:{column}: {case.field}: "


@pytest.fixture(scope="module")
def unloadable_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder that resolves like any other but whose weights are not weights."""
    folder = tmp_path_factory.mktemp("unloadable-model")
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (folder / "model.safetensors").write_bytes(b"\x00\x01 not safetensors " * 8)
    return folder


def check_one_line(stderr: str, prefix: str, case: Case) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    line = lines[0]  # file:line:col first, from `evalkit run` too (a located error gets no "task t: " prefix)
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    assert case.fragment in line, line
    if case.fragment.startswith("document"):
        assert f"the document has columns {COLUMNS}" in line


def test_every_case_of_the_issue_is_covered() -> None:
    assert len(CASES) >= 20
    assert set(DOCUMENT_CASES) <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_evalkit_run_refuses_in_one_line(name: str, tmp_path: Path, evalkit_env: Path, unloadable_model: Path) -> None:
    case = CASES[name]
    target = write_case(case, tmp_path / "task")
    out_dir = tmp_path / "out"
    proc = run_cli("run", str(target), "--model", str(unloadable_model), "--output", str(out_dir))
    assert proc.returncode == 2, proc.stderr
    check_one_line(proc.stderr, expected_prefix(case, tmp_path / "task"), case)
    if name in DOCUMENT_CASES:
        assert DOCUMENT_CASES[name] in proc.stderr
    assert not out_dir.exists()
    assert not evalkit_env.exists()  # no results store
    assert not (tmp_path / "task" / "MARK").exists()


@pytest.mark.parametrize("name", sorted(CASES))
def test_tasks_validate_refuses_in_one_line(name: str, tmp_path: Path, evalkit_env: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    target = write_case(case, tmp_path / "task")
    assert cli.main(["tasks", "validate", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    check_one_line(captured.err, expected_prefix(case, tmp_path / "task"), case)
    if name in DOCUMENT_CASES:
        assert DOCUMENT_CASES[name] in captured.err
    assert not evalkit_env.exists()
    assert not (tmp_path / "task" / "MARK").exists()


def test_untrusted_function_runs_with_allow_task_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same file, allowed: its module is imported (the mark appears) and its function renders the prompt."""
    target = write_case(CASES["untrusted_function"], tmp_path / "task")
    assert cli.main(["tasks", "validate", str(target), "--allow-task-code"]) == 0
    assert capsys.readouterr().out == "ok: 1 task, 3 documents\n"
    assert (tmp_path / "task" / "MARK").read_text() == "imported"
    assert cli.main(["tasks", "preview", str(target), "--allow-task-code", "--n", "1"]) == 0
    assert "context: 'Q: Capital of France?'" in capsys.readouterr().out


def test_untrusted_function_runs_a_model_with_allow_task_code(tmp_path: Path, tiny_model_dir: Path) -> None:
    """End to end: `evalkit run --allow-task-code` imports the module and scores every document."""
    target = write_case(CASES["untrusted_function"], tmp_path / "task")
    refused = run_cli("run", str(target), "--model", str(tiny_model_dir), "--output", str(tmp_path / "refused"))
    assert refused.returncode == 2 and not (tmp_path / "task" / "MARK").exists()
    proc = run_cli("run", str(target), "--model", str(tiny_model_dir), "--output", str(tmp_path / "out"),
                   "--allow-task-code", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "task" / "MARK").exists()
    samples = [json.loads(line) for line in (tmp_path / "out" / "samples_t.jsonl").read_text().splitlines()]
    assert [s["arguments"][0][0] for s in samples] == ["Q: Capital of France?", "Q: Capital of Peru?",
                                                      "Q: Capital of Chad?"]


def test_validate_runs_in_a_fresh_process_too(tmp_path: Path) -> None:
    """The real command line (not the in-process entry point): one line, exit 2."""
    target = write_case(CASES["missing_column"], tmp_path / "task")
    proc = run_cli("tasks", "validate", str(target))
    assert proc.returncode == 2
    check_one_line(proc.stderr, expected_prefix(CASES["missing_column"], tmp_path / "task"), CASES["missing_column"])
