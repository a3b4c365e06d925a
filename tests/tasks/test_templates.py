"""evalkit.tasks.templates against lm-eval 0.4.13 itself: ``lm_eval.utils.apply_template`` for rendering and
``ConfigurableTask.doc_to_text/doc_to_target/doc_to_choice`` (called on a stand-in ``self``) for the rules."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from lm_eval import utils as lm_utils
from lm_eval.api.task import ConfigurableTask

from evalkit.tasks import templates
from evalkit.tasks.templates import TemplateError, compile_template, render
from tests.conftest import SHARED_DATA

LM_EVAL_TASKS = Path(lm_utils.__file__).parent / "tasks"
FIELDS = ("doc_to_text", "doc_to_target", "doc_to_choice", "description", "gen_prefix",
          "doc_to_decontamination_query")


class _TaggedLoader(yaml.SafeLoader):
    """Reads lm-eval's task files, whose ``!function`` tags need no meaning here."""


_TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def lm_eval_yaml(relative: str) -> dict[str, Any]:
    return yaml.load((LM_EVAL_TASKS / relative).read_text(encoding="utf-8"), Loader=_TaggedLoader)


def rows(relative: str, limit: int) -> list[dict[str, Any]]:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data {path} is absent")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(limit), f)]


def same_as_lm_eval(source: str, doc: dict[str, Any]) -> str:
    ours = render(compile_template(source), doc)
    assert ours == lm_utils.apply_template(source, doc)
    return ours


# -- rendering: byte-identical to apply_template ----------------------------------------------------------

HAND_TEMPLATES = [
    "{{question}}",
    "Question: {{question}}\nAnswer:",
    "{{question}}\n",  # keep_trailing_newline
    "{{question}}\n\n\n",
    "line one\r\nline two {{question}}\r\n",  # Jinja normalises newlines the same way in both
    "{{ question | regex_replace('[aeiou]', '_') }}",
    r"{{ question | regex_replace('([a-z]+)', '<\\1>', 2) }}",  # a backreference, at most twice
    "{{ question | upper | trim }}|{{ question | length }}|{{ question.split(' ') | join('/') }}",
    "{% for w in question.split() %}{{ loop.index }}:{{ w }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{%- if question -%}\n  yes\n{%- endif -%}\n",
    "{% set ns = namespace(n=0) %}{% for c in question %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
    "{{ '{} / {}'.format(question, question | length) }}",
    "{{ range(3) | list }} {{ dict(a=1) }} {{ [1, 'a', none, true] }}",
    "{{ 'x' * 3 }}{{ 2 ** 10 }}{{ 7 // 2 }}{{ 7 % 3 }}{{ 1.5 * 2 }}",
    "{# a comment with {question} #}{{ question[:5] }}{{ question[-1] }}",
    "{% raw %}{{question}}{% endraw %}",
]


@pytest.mark.parametrize("source", HAND_TEMPLATES)
def test_hand_templates_render_as_lm_eval(source: str) -> None:
    same_as_lm_eval(source, {"question": "Which way is up? The sky.", "answer": 3})


def test_real_task_templates_render_as_lm_eval() -> None:
    mc1 = lm_eval_yaml("truthfulqa/truthfulqa_mc1.yaml")
    gen = lm_eval_yaml("truthfulqa/truthfulqa_gen.yaml")
    for doc in rows("truthfulqa/truthfulqa_mc_validation.jsonl", 50):
        text = same_as_lm_eval(mc1["doc_to_text"], doc)  # the multi-line {% set prompt_qa %}
        assert text.startswith("Q: What is human life expectancy") and text.endswith(doc["question"] + "\nA:")
        same_as_lm_eval(gen["doc_to_text"], doc)
        same_as_lm_eval(mc1["doc_to_choice"], doc)
    arc = lm_eval_yaml("arc/arc_easy.yaml")
    for doc in rows("arc/arc_easy_test.jsonl", 200):
        for field in ("doc_to_text", "doc_to_target", "doc_to_choice"):
            same_as_lm_eval(arc[field], doc)  # including {{choices.label.index(answerKey)}}
    piqa = lm_eval_yaml("piqa/piqa.yaml")
    for doc in rows("piqa/piqa_validation.jsonl", 200):
        same_as_lm_eval(piqa["doc_to_text"], doc)
        same_as_lm_eval(piqa["doc_to_choice"], doc)  # {{[sol1, sol2]}}
    boolq = lm_eval_yaml("super_glue/boolq/default.yaml")
    for doc in rows("boolq/boolq_validation.jsonl", 200):
        same_as_lm_eval(boolq["doc_to_text"], doc)


def _task_file_templates() -> set[str]:
    class Fast(yaml.CSafeLoader):
        pass

    Fast.add_multi_constructor("!", lambda loader, suffix, node: None)
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in FIELDS and isinstance(item, str) and ("{{" in item or "{%" in item):
                    found.add(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in LM_EVAL_TASKS.rglob("*.yaml"):
        try:
            walk(yaml.load(path.read_text(encoding="utf-8"), Loader=Fast))
        except yaml.YAMLError:
            continue
    return found


def test_every_lm_eval_task_template_compiles_in_the_sandbox() -> None:
    sources = _task_file_templates()
    assert len(sources) > 1000  # lm-eval 0.4.13 has ~1,800 distinct ones
    for source in sources:
        lm_utils.env.from_string(source)
        compile_template(source)


def test_compile_is_cached_by_source() -> None:
    assert compile_template("{{a}} cached") is compile_template("{{a}} cached")


# -- the sandbox ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "attribute"), [
    ("{{ ''.__class__ }}", "__class__"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("{{ dict.__subclasses__() }}", "__subclasses__"),
    ("{{ dict.mro() }}", "mro"),
    ("{{ cycler.__init__.__globals__ }}", "__init__"),
    ("{{ lipsum.__globals__['os'] }}", "__globals__"),
    ("{{ namespace.__init__.__globals__.__builtins__ }}", "__init__"),
    ("{{ answer.__import__('os') }}", "__import__"),
    ("{{ answer['__import__'] }}", "__import__"),
    ("{{ self._TemplateReference__context }}", "_TemplateReference__context"),
    ("{{ '{0.__class__}'.format(question) }}", "__class__"),
    ("{{ [1].append(2) }}", "append"),
    ("{{ {'a': 1}.update(b=2) }}", "update"),
])
def test_sandbox_refuses_escapes(source: str, attribute: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(compile_template(source), {"question": "q", "answer": 1})
    assert str(caught.value) == f"template reaches for {attribute!r} (refused)"


def test_sandbox_refuses_huge_values_but_keeps_small_ones() -> None:
    with pytest.raises(TemplateError, match="refused"):
        render(compile_template("{{ 'a' * 10 ** 9 }}"), {})
    with pytest.raises(TemplateError, match="refused"):
        render(compile_template("{{ 2 ** 10000000 }}"), {})
    with pytest.raises(TemplateError, match="Range too big"):
        render(compile_template("{{ range(10 ** 9) | list }}"), {})
    assert render(compile_template("{{ 'ab' * 3 }}{{ [0] * 2 }}"), {}) == "ababab[0, 0]"


def test_a_document_field_named_like_a_dunder_is_still_readable() -> None:
    assert same_as_lm_eval("{{ row.__id }}", {"row": {"__id": 7}}) == "7"


# -- errors -----------------------------------------------------------------------------------------------

def test_undefined_name_is_named_with_a_suggestion() -> None:
    with pytest.raises(TemplateError) as caught:
        render(compile_template("Q: {{questoin}}"), {"question": "q", "answer": "a"})
    assert str(caught.value) == ("template uses 'questoin', which the document does not have "
                                 "(fields: answer, question); did you mean 'question'?")
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        render(compile_template("{{ choices.nope }}"), {"choices": {"text": []}})


def test_runtime_and_syntax_errors_are_one_line() -> None:
    with pytest.raises(TemplateError) as caught:
        render(compile_template("{{ choices.label.index(answerKey) }}"),
               {"choices": {"label": ["A"]}, "answerKey": "E"})
    assert str(caught.value) == "template failed: ValueError: 'E' is not in list"
    with pytest.raises(TemplateError) as caught:
        compile_template("line\n{{ question ")
    assert "\n" not in str(caught.value) and "template line 2" in str(caught.value)


def test_single_brace_columns() -> None:
    source = ("Q: {question} {{answer}} {unknown} {% raw %}{answer}{% endraw %} {# {choices} #} "
              "{{ '{choices}' }} { answer } {question}")
    assert templates.single_brace_columns(source, ["question", "answer", "choices"]) == ["question", "answer"]
    assert templates.single_brace_columns("{{question}} {{ {'a': 1} }}", ["question", "a"]) == []
    with pytest.raises(TemplateError):
        templates.single_brace_columns("{{ unclosed", ["x"])


# -- lm-eval's resolution rules: ConfigurableTask's own methods on a stand-in self ------------------------

def lm_eval_task(columns: frozenset[str], text: Any = None, target: Any = None, choice: Any = None) -> Any:
    config = SimpleNamespace(doc_to_text=text, doc_to_target=target, doc_to_choice=choice)
    return SimpleNamespace(prompt=None, config=config, _config=config, features=sorted(columns))


DOC = {"question": "What is 2+2?", "answer": "4", "label": 1, "options": ["3", "4"], "gold": "[1, 2]",
       "bad": "[not a literal", "letters": ["A", "B"], "key": "B"}
COLS = frozenset(DOC)


@pytest.mark.parametrize("spec", [
    "question", "label", "Q: {{question}}", "{{answer}}", "{{label}}", "{{label}}{{label}}", "{{options}}", 3,
    lambda doc: doc["question"].upper(),
])
@pytest.mark.parametrize("has_choices", [False, True])
def test_doc_to_text_as_lm_eval(spec: Any, has_choices: bool) -> None:
    task = lm_eval_task(COLS, text=spec, choice=["x", "y"] if has_choices else None)
    expected = ConfigurableTask.doc_to_text(task, DOC)
    got = templates.doc_to_text(spec, DOC, COLS, has_choices)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("spec", [
    "answer", "label", "options", "{{answer}}", "{{label}}", "{{gold}}", "{{bad}}", "{{options}}", "[]",
    "{{ letters.index(key) }}", " {{question}}", 0, ["a", "b"], lambda doc: doc["label"] + 1,
])
@pytest.mark.parametrize("has_choices", [False, True])
def test_doc_to_target_as_lm_eval(spec: Any, has_choices: bool) -> None:
    task = lm_eval_task(COLS, target=spec, choice=["x", "y"] if has_choices else None)
    expected = ConfigurableTask.doc_to_target(task, DOC)
    got = templates.doc_to_target(spec, DOC, COLS, has_choices)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("spec", [
    "options", "letters", "{{options}}", "{{[question, answer]}}", "{{ letters + options }}", ["no", "yes"],
    {"a": "first", "b": "second"}, lambda doc: [doc["question"], doc["answer"]],
])
def test_doc_to_choice_as_lm_eval(spec: Any) -> None:
    task = lm_eval_task(COLS, choice=spec)
    assert templates.doc_to_choice(spec, DOC, COLS) == ConfigurableTask.doc_to_choice(task, DOC)


def test_a_list_of_choices_is_literal_as_in_lm_eval() -> None:
    spec = ["{{question}}", "b"]
    assert templates.doc_to_choice(spec, DOC, COLS) == ConfigurableTask.doc_to_choice(lm_eval_task(COLS, choice=spec),
                                                                                      DOC) == spec


def test_real_tasks_resolve_as_lm_eval() -> None:
    for yaml_file, data, n in (("arc/arc_easy.yaml", "arc/arc_easy_test.jsonl", 300),
                               ("piqa/piqa.yaml", "piqa/piqa_validation.jsonl", 300),
                               ("super_glue/boolq/default.yaml", "boolq/boolq_validation.jsonl", 100)):
        cfg = lm_eval_yaml(yaml_file)
        docs = rows(data, n)
        columns = frozenset(docs[0])
        task = lm_eval_task(columns, cfg["doc_to_text"], cfg["doc_to_target"], cfg["doc_to_choice"])
        for doc in docs:
            text = templates.doc_to_text(cfg["doc_to_text"], doc, columns, True)
            assert text == ConfigurableTask.doc_to_text(task, doc)
            target = templates.doc_to_target(cfg["doc_to_target"], doc, columns, True)
            assert target == ConfigurableTask.doc_to_target(task, doc) and isinstance(target, int)
            choices = templates.doc_to_choice(cfg["doc_to_choice"], doc, columns)
            assert choices == ConfigurableTask.doc_to_choice(task, doc)
    mc2 = lm_eval_yaml("truthfulqa/truthfulqa_mc2.yaml")
    for doc in rows("truthfulqa/truthfulqa_mc_validation.jsonl", 100):
        columns = frozenset(doc)
        task = lm_eval_task(columns, choice=mc2["doc_to_choice"], target=mc2["doc_to_target"])
        assert templates.doc_to_choice(mc2["doc_to_choice"], doc, columns) == doc["mc2_targets"]["choices"]
        assert templates.doc_to_choice(mc2["doc_to_choice"], doc, columns) == ConfigurableTask.doc_to_choice(task, doc)
        assert templates.doc_to_target(mc2["doc_to_target"], doc, columns, True) == 0


@pytest.mark.parametrize(("spec", "doc"), [
    ("label", {"label": 1}),  # a column that is no list
    ("{{ label }}", {"label": 1}),  # literal_eval gives an int
    ("{{ [1, 2] }}", {}),  # a list of ints
    (lambda doc: ("a", "b"), {}),  # a tuple
])
def test_doc_to_choice_refuses_what_is_not_a_list_of_strings(spec: Any, doc: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match=r"^expected a list of choices, got "):
        templates.doc_to_choice(spec, doc, frozenset(doc))


def test_where_lm_eval_would_crash_we_raise_template_error() -> None:
    with pytest.raises(TemplateError, match="not a Python literal"):
        templates.doc_to_choice("{{ question }}", DOC, COLS)  # lm-eval: SyntaxError from literal_eval
    with pytest.raises(TemplateError, match="not a Python literal"):
        templates.doc_to_text("{{ '007' }}", DOC, COLS, True)  # digits with a leading zero
    with pytest.raises(TemplateError, match="doc_to_text: expected"):
        templates.doc_to_text(["a"], DOC, COLS, False)  # lm-eval: a bare TypeError
    with pytest.raises(TemplateError, match="doc_to_target: True is a boolean"):
        templates.doc_to_target(True, DOC, COLS, True)


def test_column_or_template() -> None:
    assert templates.column_or_template("question", DOC, COLS) == DOC["question"]
    assert templates.column_or_template("{{label}}", DOC, COLS) == "1"  # no digit conversion here
