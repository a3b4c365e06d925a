"""lm-eval task files for evalkit's shipped tasks, reading the local benchmark data (../shared/data).

Each file written here is one task that lm-eval 0.4.13 and evalkit both run, unmodified. It
``include``s either our shipped task file (``suites/tasks/...``, variant ``shipped``) or lm-eval's
own installed one (``lm_eval/tasks/...``, variant ``lm_eval``), and changes only:

- the data source: ``dataset_path: json``, ``dataset_name: null``, ``dataset_kwargs.data_files``
  naming local files, and each split the local data lacks set to null (lm-eval reads the
  training split when a task loads, even at 0 shots);
- the task name (lm-eval's own names are taken) and ``tag: []`` (so lm-eval's tags do not gather it);
- ``num_fewshot`` where asked (25-shot ARC-Challenge).

The evaluated split is cut to its first ``rows`` documents, in a file of its own next to the task
files, so neither harness needs ``--limit``; the shots come from the whole shared file.

An include keeps every ``!function`` of the included file resolving next to that file (both
harnesses resolve the tag against the folder of the file that holds it), so lm-eval's
``!function preprocess_winogrande.doc_to_text`` still names lm-eval's helper, which evalkit
recognises by its hash. Our shipped files say ``!builtin NAME`` instead, which lm-eval's YAML loader
does not know: :func:`install_builtin_tag`, called in lm-eval's process only, makes it read the tag
as the lm-eval helper the built-in stands for (:data:`evalkit.tasks.builtins.KNOWN`), so lm-eval
runs its own code where evalkit runs its built-in.

:func:`token_counts` gives the tokens each harness feeds the model for the same requests (the
bench's bound on evalkit's speed-up, ``bench/vs_lm_eval.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from evalkit.parity.lm_eval_tasks import lm_eval_tasks_dir
from evalkit.tasks.loader import SHIPPED_DIR

Variant = Literal["shipped", "lm_eval"]

#: The task-file fields that name a split, and the split name the shipped and lm-eval files give each.
SPLIT_FIELDS = {"training_split": "train", "validation_split": "validation", "test_split": "test"}


@dataclass(frozen=True)
class LocalTask:
    """A shipped task, lm-eval's file for the same task, and its local data."""

    shipped: str  # under suites/tasks
    lm_eval: str  # under lm_eval/tasks
    splits: dict[str, str]  # split -> file under the shared data folder
    eval_split: str  # the split both harnesses evaluate (the test split if the file names one, else validation)


#: Every shipped task that ../shared/data holds data for (cola and mrpc have none there).
TASKS: dict[str, LocalTask] = {
    "arc_easy": LocalTask("arc/arc_easy.yaml", "arc/arc_easy.yaml",
                          {"test": "arc/arc_easy_test.jsonl", "train": "arc/arc_easy_train.jsonl"}, "test"),
    "arc_challenge": LocalTask("arc/arc_challenge.yaml", "arc/arc_challenge.yaml",
                               {"test": "arc/arc_challenge_test.jsonl", "train": "arc/arc_challenge_train.jsonl"},
                               "test"),
    "truthfulqa_mc1": LocalTask("truthfulqa/truthfulqa_mc1.yaml", "truthfulqa/truthfulqa_mc1.yaml",
                                {"validation": "truthfulqa/truthfulqa_mc_validation.jsonl"}, "validation"),
    "truthfulqa_mc2": LocalTask("truthfulqa/truthfulqa_mc2.yaml", "truthfulqa/truthfulqa_mc2.yaml",
                                {"validation": "truthfulqa/truthfulqa_mc_validation.jsonl"}, "validation"),
    "piqa": LocalTask("piqa/piqa.yaml", "piqa/piqa.yaml",
                      {"validation": "piqa/piqa_validation.jsonl"}, "validation"),
    "boolq": LocalTask("boolq/boolq.yaml", "super_glue/boolq/default.yaml",
                       {"validation": "boolq/boolq_validation.jsonl"}, "validation"),
    "winogrande": LocalTask("winogrande/winogrande.yaml", "winogrande/default.yaml",
                            {"validation": "winogrande/dev.jsonl"}, "validation"),
    "sst2": LocalTask("glue/sst2.yaml", "glue/sst2/default.yaml",
                      {"validation": "glue/sst2/validation.jsonl"}, "validation"),
    "rte": LocalTask("glue/rte.yaml", "glue/rte/default.yaml",
                     {"validation": "glue/rte/validation.jsonl"}, "validation"),
}


@dataclass(frozen=True)
class WrittenTask:
    """One task file written by :func:`write_task`."""

    name: str  # the task name both harnesses report
    task: str  # the key of :data:`TASKS` it runs
    variant: Variant
    path: Path
    num_fewshot: int | None
    rows: int | None  # evaluated documents (None: the whole split)


def included_file(task: str, variant: Variant) -> Path:
    """The task file a written task includes: ours (``shipped``) or lm-eval's installed one."""
    spec = TASKS[task]
    return SHIPPED_DIR / spec.shipped if variant == "shipped" else lm_eval_tasks_dir() / spec.lm_eval


def write_task(folder: Path, shared: Path, task: str, *, variant: Variant = "shipped", name: str | None = None,
               rows: int | None = None, num_fewshot: int | None = None) -> WrittenTask:
    """``folder/<name>.yaml``: ``task`` (a key of :data:`TASKS`) on the local data, as the module doc says.

    ``name`` defaults to ``ek_<task>`` (shipped) or ``lm_<task>`` (lm_eval); ``rows`` keeps the first
    rows of the evaluated split (written to ``folder/data/<name>.<split>.jsonl``).
    """
    spec = TASKS[task]
    name = name or f"{'ek' if variant == 'shipped' else 'lm'}_{task}"
    files: dict[str, str] = {}
    for split, relative in spec.splits.items():
        source = shared / relative
        if not source.is_file():
            raise FileNotFoundError(f"{task}: no local data file {source}")
        if split == spec.eval_split and rows is not None:
            lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:rows]
            cut = folder / "data" / f"{name}.{split}.jsonl"
            cut.parent.mkdir(parents=True, exist_ok=True)
            cut.write_text("".join(lines), encoding="utf-8")
            files[split] = str(cut.resolve())
        else:
            files[split] = str(source.resolve())
    config: dict[str, Any] = {
        "include": str(included_file(task, variant)), "task": name, "tag": [],
        "dataset_path": "json", "dataset_name": None, "dataset_kwargs": {"data_files": files},
    }
    config.update({key: None for key, split in SPLIT_FIELDS.items() if split not in files})
    if num_fewshot is not None:
        config["num_fewshot"] = num_fewshot
    path = folder / f"{name}.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return WrittenTask(name, task, variant, path, num_fewshot, rows)


def install_builtin_tag() -> None:
    """Teach lm-eval 0.4.13's YAML loader ``!builtin NAME``: the lm-eval helper that built-in stands for.

    For lm-eval's process only (it patches ``lm_eval.tasks._yaml_loader``); evalkit never calls it.
    Indexing (``resolve_funcs=False``) reads the tag as text, as lm-eval reads ``!function`` there.
    """
    from lm_eval.tasks import _yaml_loader

    from evalkit.tasks.builtins import KNOWN

    helpers = {k.name: k for k in KNOWN}
    make_loader: Callable[..., Any] = _yaml_loader._make_loader

    def with_builtin(base_dir: Path, *, resolve_funcs: bool) -> Any:
        loader = make_loader(base_dir, resolve_funcs=resolve_funcs)

        def builtin(yaml_loader: Any, node: Any) -> Any:
            name = yaml_loader.construct_scalar(node)
            if name not in helpers:
                raise ValueError(f"!builtin {name}: not one of {', '.join(helpers)}")
            known = helpers[name]
            if not resolve_funcs:
                return f"!builtin {name}"
            where = lm_eval_tasks_dir() / known.lm_eval_file
            return _yaml_loader._import_func_in_yml(f"{where.stem}.{known.lm_eval_function}", where.parent)

        yaml.add_constructor("!builtin", builtin, Loader=loader)
        return loader

    if getattr(make_loader, "evalkit_builtin", False):
        return
    with_builtin.evalkit_builtin = True  # type: ignore[attr-defined]
    _yaml_loader._make_loader = with_builtin


@dataclass(frozen=True)
class TokenCounts:
    """Tokens each harness feeds the model for one set of log-likelihood requests (padding not counted)."""

    lm_eval: int
    evalkit: int

    @property
    def bound(self) -> float:
        """lm-eval's tokens over evalkit's: the speed-up that token counts alone allow."""
        return self.lm_eval / self.evalkit if self.evalkit else float("inf")


def token_counts(pairs: list[tuple[list[int], list[int]]], max_length: int) -> TokenCounts:
    """Tokens fed for (context ids, continuation ids) pairs, as each harness schedules them.

    lm-eval 0.4.13 (``HFLM._loglikelihood_tokens``): one sequence per distinct ``context +
    continuation[:-1]`` (its "contexts" grouping, which merges the one-token choices of a
    question), left-truncated to ``max_length``. evalkit (:mod:`evalkit.engine.prefix`): each
    distinct pair once; a cluster's shared prefix once, then per question its remaining context
    and every choice's tokens but the last; pairs longer than the window take the plain path, as
    lm-eval does.
    """
    from evalkit.engine.prefix import cluster_questions, group_questions

    lm = sum(min(len(key), max_length) for key in {tuple(c + k[:-1]) for c, k in pairs})
    distinct = list(dict.fromkeys((tuple(c), tuple(k)) for c, k in pairs))
    fits = [(list(c), list(k)) for c, k in distinct if c and k and len(c) + len(k) <= max_length]
    ek = sum(min(len(c) + len(k) - 1, max_length) for c, k in distinct
             if not (c and k and len(c) + len(k) <= max_length))
    for shared, members in cluster_questions(group_questions(fits)):
        ek += shared + sum(len(q.context) - shared + sum(len(cont) - 1 for _, cont in q.choices) for q in members)
    return TokenCounts(lm, ek)
