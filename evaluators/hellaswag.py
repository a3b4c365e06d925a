"""HellaSwag: pick the ending of a short scene (acc, acc_norm), as lm-eval's hellaswag task.

Zellers et al.'s benchmark as lm-evaluation-harness 0.4.13 scores it (``tasks/hellaswag``).

Each document becomes ``query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())``
(or ``preprocess(ctx)`` when the document has only ``ctx``) and four choices
``preprocess(ending)``, each scored as the continuation ``" " + choice``. ``preprocess`` is
lm-eval's: strip, ``" [title]"`` -> ``". "``, drop ``[...]`` markers, ``"  "`` -> ``" "``. Metrics:
``acc`` and ``acc_norm`` (log-likelihood divided by the choice's length in characters).

Data: the hub's ``Rowan/hellaswag`` validation split, or local files with ``ctx`` (or
``activity_label``/``ctx_a``/``ctx_b``), ``endings`` and ``label``. A local folder (``dataset.path``
or the ``--data-root`` mirror ``DIR/hellaswag``) may hold ``validation.jsonl`` or any single
``*val*.jsonl`` such as the official ``hellaswag_val.jsonl``. Shots (``num_fewshot``) come from the
train split, drawn as lm-eval does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from evalkit.data import SUFFIX_BUILDER, DatasetSpec, find_split_file, load_records, local_folder
from evalkit.engine.requests import Request
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, TaskContext, register_evaluator
from evalkit.evaluators._fewshot import FewshotSettings, PromptBuilder, RandomSampler, load_split
from evalkit.evaluators._multiple_choice import choice_metrics, choice_requests
from evalkit.scores import ItemScore

# Short names that local copies use for a split in their file names (hellaswag_val.jsonl).
SPLIT_ALIASES = {"validation": "val"}


class HellaSwagSettings(FewshotSettings):
    num_fewshot: int = Field(0, ge=0, description="solved examples from fewshot_split before each item "
                                                  "(0 as lm-eval's default)")
    fewshot_split: str = Field("train", description="split the shots are drawn from")


def preprocess(text: str) -> str:
    """lm-eval's ``hellaswag/utils.py`` ``preprocess`` (the brackets are WikiHow artifacts)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def process_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """lm-eval's ``process_docs`` for one document, plus the ``ctx``-only form of local copies."""
    if {"activity_label", "ctx_a", "ctx_b"} <= doc.keys():
        raw = doc["activity_label"] + ": " + doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    else:
        raw = doc["ctx"]
    if str(doc["label"]).strip() == "":
        raise UserError("hellaswag documents need a label (the hub's test split has none: use validation)")
    return {**doc, "query": preprocess(raw), "choices": [preprocess(e) for e in doc["endings"]],
            "gold": int(doc["label"])}


def split_file(folder: Path, spec: DatasetSpec, split: str) -> Path:
    """``<split>.<ext>`` in ``folder`` as the generic loader finds it, else the one file named like the split."""
    try:
        return find_split_file(folder, spec.model_copy(update={"split": split}))
    except UserError:
        key = SPLIT_ALIASES.get(split, split)
        files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIX_BUILDER and key in p.stem and p.is_file())
        if len(files) == 1:
            return files[0]
        raise UserError(f"{folder}: no file for split {split!r} (expected {split}.jsonl or one *{key}*.jsonl; "
                        f"found: {', '.join(p.name for p in files) or 'none'})") from None


@register_evaluator("hellaswag")
class HellaSwag(Evaluator):
    Settings = HellaSwagSettings
    request_kinds = frozenset({"loglikelihood"})
    default_dataset = DatasetSpec(path="Rowan/hellaswag", split="validation")
    higher_is_better: ClassVar[dict[str, bool]] = {"acc": True, "acc_norm": True}
    settings: HellaSwagSettings

    def __init__(self, settings: HellaSwagSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        self.prompts = PromptBuilder(settings, ctx)
        self._sampler: RandomSampler | None = None  # built on first use from settings and ctx alone

    def _split(self, dataset: DatasetSpec, split: str | None) -> list[dict[str, Any]]:
        """The documents of ``split`` (None: the split ``dataset`` names, as the generic loader reads it)."""
        folder = local_folder(dataset, self.ctx.base_dir, self.ctx.data_root)
        if folder is not None:
            # Absolute: a relative --data-root is relative to the working folder, not to the suite.
            path = split_file(folder, dataset, split or "validation").resolve()
            docs = load_records(DatasetSpec(path=SUFFIX_BUILDER[path.suffix], data_files=str(path)),
                                self.ctx.base_dir, self.ctx.data_root)
        elif split is None:
            docs = load_records(dataset, self.ctx.base_dir, self.ctx.data_root)
        else:
            docs = load_split(dataset, split, self.ctx)
        return [process_doc(d) for d in docs]

    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        return self._split(dataset, dataset.split)

    def _shots(self, doc: dict[str, Any], doc_id: int) -> list[tuple[str, str]]:
        if self.settings.num_fewshot == 0:
            return []
        if self._sampler is None:
            pool = self._split(self.task_dataset(), self.settings.fewshot_split)
            # lm-eval passes the evaluated document to the sampler here (hellaswag sets neither a
            # few-shot nor a test split, and None == None), which changes how shots are drawn.
            self._sampler = RandomSampler(pool, self.settings.num_fewshot, self.ctx.seed, exclude_eval_doc=True)
        return [(s["query"], s["choices"][s["gold"]]) for s in self._sampler.shots(doc_id, doc)]

    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        context = self.prompts.context("", self._shots(doc, doc_id), doc["query"])
        return list(choice_requests(context, doc["choices"], self.prompts.continuation_delimiter))

    def target(self, doc: dict[str, Any]) -> Any:
        return doc["gold"]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        metrics = choice_metrics(responses, doc["choices"], doc["gold"], ("acc", "acc_norm"))
        return [ItemScore("none", [list(r) for r in responses], metrics)]
