"""evalkit.tasks.loader against lm-eval 0.4.13's own loader: ``include`` merged as
``lm_eval.tasks._yaml_loader.load_yaml`` merges it, names and tags indexed as ``lm_eval.tasks._index.TaskIndex``
indexes them, groups and inline overrides as ``lm_eval.tasks._factory.TaskFactory`` builds them, and lm-eval's
installed task files loaded statically, with no code of theirs run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from lm_eval import utils as lm_utils
from lm_eval.tasks._index import Kind, TaskIndex
from lm_eval.tasks._yaml_loader import load_yaml as lm_load_yaml

from evalkit.errors import ConfigError, UserError
from evalkit.tasks import builtins
from evalkit.tasks.loader import TaskLoader, yaml_files
from evalkit.tasks.schema import BuiltinRef, FunctionRef

LM_EVAL_TASKS = Path(lm_utils.__file__).parent / "tasks"

TASK = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files: {{test: docs.jsonl}}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_target: label
doc_to_choice: "{{{{answers}}}}"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def merged(path: Path) -> dict[str, Any]:
    return TaskLoader().merged_config(path)


# -- include -----------------------------------------------------------------------------------------------

def test_include_is_relative_to_the_including_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "common" / "base.yaml", TASK.format(name="base") + "description: from base\n")
    child = write(tmp_path / "tasks" / "deep" / "child.yaml", "include: ../../common/base.yaml\ntask: child\n")
    monkeypatch.chdir(tmp_path / "common")  # the working folder plays no part
    ours = merged(child)
    assert ours == lm_load_yaml(child, resolve_func=False)
    assert ours["task"] == "child" and ours["description"] == "from base"
    (loaded,) = TaskLoader().load(child).tasks
    assert loaded.name == "child" and loaded.path == child


def test_include_merges_shallowly_own_keys_win_and_a_later_include_wins(tmp_path: Path) -> None:
    """A nested mapping is replaced whole, never merged key by key; with two includes lm-eval 0.4.13 applies
    them in the order listed, so the later one's keys win (older lm-eval let the first win)."""
    write(tmp_path / "first.yaml", TASK.format(name="first") + "generation_kwargs:\n  until: ['\\n']\n"
                                   "  max_gen_toks: 32\nmetadata: {version: 1.0, note: first}\ndescription: first\n")
    write(tmp_path / "second.yaml", "description: second\nfewshot_delimiter: '\\n'\nmetadata: {version: 2.0}\n")
    child = write(tmp_path / "child.yaml", "include: [first.yaml, second.yaml]\ntask: child\n"
                                           "generation_kwargs:\n  max_gen_toks: 5\n")
    ours = merged(child)
    assert ours == lm_load_yaml(child, resolve_func=False)
    assert ours["generation_kwargs"] == {"max_gen_toks": 5}  # own key, whole: `until` is not inherited
    assert ours["description"] == "second" and ours["metadata"] == {"version": 2.0}  # the later include
    assert ours["task"] == "child" and ours["doc_to_target"] == "label"


def test_an_error_in_an_included_key_names_the_included_file(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", TASK.format(name="base") + "num_fewshot: many\n")
    child = write(tmp_path / "child.yaml", "include: base.yaml\ntask: child\n")
    with pytest.raises(ConfigError) as caught:
        TaskLoader().load(child)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(base), 10, "num_fewshot")


def test_nested_includes_and_their_cycles(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", TASK.format(name="a"))
    write(tmp_path / "b.yaml", "include: a.yaml\ndescription: b\n")
    c = write(tmp_path / "c.yaml", "include: b.yaml\ntask: c\n")
    assert merged(c) == lm_load_yaml(c, resolve_func=False)
    write(tmp_path / "a.yaml", "include: c.yaml\n" + TASK.format(name="a"))
    with pytest.raises(ConfigError, match=r"include cycle: c\.yaml -> b\.yaml -> a\.yaml -> c\.yaml"):
        TaskLoader().load(c)
    with pytest.raises(ValueError, match="Include cycle"):  # lm-eval refuses it too
        lm_load_yaml(c, resolve_func=False)


# -- code: !builtin and lm-eval's recognised helpers ------------------------------------------------------

def test_builtin_tag_resolves_to_the_named_function(tmp_path: Path) -> None:
    path = write(tmp_path / "w.yaml", TASK.format(name="w").replace('doc_to_text: "{{question}}"',
                                                                     "doc_to_text: !builtin winogrande.doc_to_text"))
    (task,) = TaskLoader().load(path).tasks
    ref = task.config.doc_to_text
    assert isinstance(ref, BuiltinRef) and (ref.line, ref.column) == (7, 14)
    assert task.functions[ref] is builtins.BUILTINS.get("winogrande.doc_to_text")


def test_lm_evals_helper_is_recognised_and_a_modified_copy_is_refused_with_advice(tmp_path: Path) -> None:
    folder = tmp_path / "winogrande"
    shutil.copytree(LM_EVAL_TASKS / "winogrande", folder, ignore=shutil.ignore_patterns("__pycache__"))
    (task,) = TaskLoader().load(folder / "default.yaml").tasks
    ref = task.config.doc_to_text
    assert isinstance(ref, FunctionRef) and ref.target == "preprocess_winogrande.doc_to_text"
    assert task.functions[ref] is builtins.BUILTINS.get("winogrande.doc_to_text")
    helper = folder / "preprocess_winogrande.py"
    helper.write_text(helper.read_text().replace('{"1": 0, "2": 1}', '{"1": 1, "2": 0}'))  # a changed meaning
    with pytest.raises(ConfigError) as caught:
        TaskLoader().load(folder / "default.yaml")
    assert caught.value.field == "doc_to_text" and (caught.value.line, caught.value.column) == (7, 14)
    assert caught.value.message.endswith("use the built-in instead: !builtin winogrande.doc_to_text")
    assert TaskLoader(allow_code=True).load(folder / "default.yaml").tasks[0].functions[ref].__module__ \
        .startswith("evalkit_task_code.")


def test_a_helper_of_lm_evals_name_elsewhere_gets_no_advice(tmp_path: Path) -> None:
    write(tmp_path / "mine.py", "def doc_to_text(doc):\n    return doc['question']\n")
    path = write(tmp_path / "t.yaml", TASK.format(name="t").replace('doc_to_text: "{{question}}"',
                                                                    "doc_to_text: !function mine.doc_to_text"))
    with pytest.raises(ConfigError) as caught:
        TaskLoader().load(path)
    assert "refused" in caught.value.message and "built-in" not in caught.value.message


# -- names, tags, groups ----------------------------------------------------------------------------------

def test_a_task_name_is_looked_up_in_the_search_dirs_then_the_shipped_files(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "mine.yaml", TASK.format(name="my_task"))
    write(tmp_path / ".hidden" / "other.yaml", TASK.format(name="hidden_task"))
    loader = TaskLoader(search_dirs=[tmp_path])
    (task,) = loader.load("my_task").tasks
    assert task.path == tmp_path / "sub" / "mine.yaml"
    assert loader.load("arc_easy").tasks[0].config.dataset_name == "ARC-Easy"  # shipped
    with pytest.raises(UserError, match=r"my_tsak: not a file, a folder or a known task, group or tag "
                                        r"\(did you mean my_task"):
        loader.load("my_tsak")
    assert "hidden_task" not in loader.index()  # hidden folders (a project's .venv) are not searched
    assert yaml_files(tmp_path) == [tmp_path / "sub" / "mine.yaml"]


def test_a_tag_expands_to_its_tasks_as_lm_evals_index_does(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", TASK.format(name="one") + "tag: [family, other]\n")
    write(tmp_path / "two.yaml", TASK.format(name="two") + "tag: family\n")
    write(tmp_path / "three.yaml", TASK.format(name="three"))
    reference = TaskIndex.build([tmp_path])
    assert reference["family"].kind == Kind.TAG
    collection = TaskLoader(search_dirs=[tmp_path]).load("family")
    assert {t.name for t in collection.tasks} == reference["family"].tags == {"one", "two"}
    assert [t.name for t in TaskLoader(search_dirs=[tmp_path]).load("other").tasks] == ["one"]


def test_a_group_file_with_aggregate_metric_list(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", TASK.format(name="one"))
    write(tmp_path / "two.yaml", TASK.format(name="two"))
    group = write(tmp_path / "g.yaml", "group: g\ngroup_alias: G\ntask: [one, two]\naggregate_metric_list:\n"
                                       "  - metric: acc\n    weight_by_size: false\n    filter_list: none\n"
                                       "metadata: {version: 2.0}\n")
    reference = TaskIndex.build([tmp_path])
    assert reference["g"].kind == Kind.GROUP
    collection = TaskLoader().load(group)
    assert [t.name for t in collection.tasks] == reference["g"].cfg["task"] == ["one", "two"]
    (loaded,) = collection.groups
    assert (loaded.name, loaded.alias, loaded.members, loaded.version) == ("g", "G", ("one", "two"), 2.0)
    (aggregate,) = loaded.aggregate
    assert (aggregate.metric, aggregate.aggregation, aggregate.weight_by_size, aggregate.filter_list) == \
        ("acc", "mean", False, "none")


def test_a_group_nests_groups_and_refuses_a_group_cycle(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", TASK.format(name="one"))
    write(tmp_path / "inner.yaml", "group: inner\ntask: [one]\n")
    outer = write(tmp_path / "outer.yaml", "group: outer\ntask:\n  - inner\n  - group: inline\n    task: [one]\n")
    collection = TaskLoader().load(outer)
    assert [g.name for g in collection.groups] == ["inner", "inline", "outer"]  # children before parents
    assert collection.groups[-1].members == ("inner", "inline")
    loop = write(tmp_path / "loop.yaml", "group: loop\ntask:\n  - group: loop\n    task: [one]\n")
    with pytest.raises(ConfigError, match="group cycle: loop -> loop"):
        TaskLoader().load(loop)


def test_an_inline_group_task_overrides_a_known_task(tmp_path: Path) -> None:
    """lm-eval's factory: a ``{task: NAME, ...}`` entry naming a known task is that task's config with the
    entry's keys over it (``{**config, **item}``)."""
    base = write(tmp_path / "one.yaml", TASK.format(name="one") + "num_fewshot: 0\ndescription: plain\n")
    entry = {"task": "one", "num_fewshot": 2, "doc_to_text": "Q: {{question}}"}
    group = write(tmp_path / "g.yaml", "group: g\ntask:\n  - task: one\n    num_fewshot: 2\n"
                                       "    doc_to_text: 'Q: {{question}}'\n")
    (task,) = TaskLoader().load(group).tasks
    expected = {**lm_load_yaml(base, resolve_func=False), **entry}
    assert task.config.model_dump(exclude_unset=True) == expected
    assert task.config.description == "plain" and task.config.num_fewshot == 2
    bad = write(tmp_path / "bad.yaml", "group: bad\ntask:\n  - task: one\n    num_fewshots: 2\n")
    with pytest.raises(ConfigError) as caught:  # an override is checked like the file's own keys, located in the group
        TaskLoader().load(bad)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(bad), 4, "num_fewshots")
    assert "did you mean 'num_fewshot'?" in caught.value.message


def test_an_inline_group_task_of_its_own(tmp_path: Path) -> None:
    write(tmp_path / "docs.jsonl", "")
    group = write(tmp_path / "g.yaml", "group: g\ntask:\n" + "".join(
        f"    {line}\n" if i else f"  - {line}\n" for i, line in enumerate(TASK.format(name="fresh").splitlines())))
    (task,) = TaskLoader().load(group).tasks
    assert task.name == "fresh" and task.path == group  # lm-eval names it "g::fresh" (see the tasks README)
    assert task.config.doc_to_choice == "{{answers}}"


# -- lm-eval's own task files ------------------------------------------------------------------------------

LM_EVAL_FOLDERS = ("arc", "truthfulqa", "piqa", "winogrande", "super_glue/boolq", "glue", "hellaswag",
                   "super_glue/copa")
LM_EVAL_FILES = sorted(str(p.relative_to(LM_EVAL_TASKS)) for folder in LM_EVAL_FOLDERS
                       for p in yaml_files(LM_EVAL_TASKS / folder))


def test_the_lm_eval_folders_hold_their_files() -> None:
    assert len(LM_EVAL_FILES) >= 20
    assert "glue/mnli/default.yaml" in LM_EVAL_FILES and "truthfulqa/truthfulqa_mc2.yaml" in LM_EVAL_FILES


def _plain(value: Any) -> Any:
    """A merged value with code references as lm-eval's unresolved loader gives them (path.function)."""
    if isinstance(value, FunctionRef):
        return str(value.base_dir / value.target)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _refs(value: Any) -> list[FunctionRef]:
    if isinstance(value, FunctionRef):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


@pytest.mark.parametrize("relative", LM_EVAL_FILES)
def test_lm_evals_installed_task_file_loads_without_allowing_code(relative: str) -> None:
    """Merged exactly as lm-eval merges it, and every ``!function`` it holds is recognised as a built-in."""
    path = LM_EVAL_TASKS / relative
    raw = merged(path)
    assert _plain(raw) == lm_load_yaml(path, resolve_func=False)
    (task,) = TaskLoader(allow_code=False).load(path).tasks
    assert task.name == raw["task"]
    assert set(task.functions) == set(_refs(raw))
    known = [builtins.BUILTINS.get(name) for name in builtins.BUILTINS.names()]
    assert all(fn in known for fn in task.functions.values())


def test_lm_evals_helpers_are_recognised_in_the_files_that_use_them() -> None:
    uses = {relative for relative in LM_EVAL_FILES if _refs(merged(LM_EVAL_TASKS / relative))}
    assert {"winogrande/default.yaml", "truthfulqa/truthfulqa_mc2.yaml", "hellaswag/hellaswag.yaml",
            "glue/mnli/default.yaml", "glue/mnli/mismatch.yaml", "super_glue/copa/default.yaml"} <= uses
