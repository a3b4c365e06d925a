"""MMLU: 57 subjects of four-way multiple choice, scored as lm-eval's mmlu group (acc by subject and category).

Hendrycks et al.'s benchmark as lm-evaluation-harness 0.4.13 scores it (``tasks/mmlu/default``).

Prompt: the subject's description (a prefix; the system turn under a chat template), ``num_fewshot``
solved questions from the subject's dev split in order (lm-eval's ``first_n``), then the question;
each of ``" A"``..``" D"`` is scored as a continuation; metric ``acc``. Results: the task itself (all questions), each
category (``<task>_stem``, ``_humanities``, ``_social_sciences``, ``_other``) and each subject
(``<task>_<subject>``). Categories and the task are lm-eval's size-weighted group means (a
micro-average) with its pooled standard error over subjects (``api/group.py``, ``api/metrics.py``).

Data: the hub's ``cais/mmlu`` (fields ``question``, ``subject``, ``choices``, ``answer`` index), or a
folder in Hendrycks' original layout, ``[data/]{dev,test,val}/SUBJECT_{dev,test,val}.csv`` without a
header (question, A, B, C, D, answer letter): given as ``dataset.path`` or found as the
``--data-root`` mirror ``DIR/mmlu``. Any other local source must use the ``cais/mmlu`` fields.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from evalkit.data import DatasetSpec
from evalkit.engine.requests import Request
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, TaskContext, register_evaluator
from evalkit.evaluators._fewshot import FewshotSettings, FirstNSampler, PromptBuilder, load_split
from evalkit.evaluators._multiple_choice import choice_metrics, choice_requests
from evalkit.scores import Aggregate, ItemScore, finite_or_none

LETTERS = ("A", "B", "C", "D")

#: lm-eval's subject -> category table (tasks/mmlu/_generate_configs.py, SUBJECTS).
SUBJECTS: dict[str, str] = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}
CATEGORIES = ("stem", "humanities", "social_sciences", "other")

# cais/mmlu's split names -> the folder names of Hendrycks' archive.
HENDRYCKS_SPLITS = {"test": "test", "dev": "dev", "validation": "val", "val": "val"}


class MMLUSettings(FewshotSettings):
    num_fewshot: int = Field(0, ge=0, description="solved dev questions before each question, in order "
                                                  "(0 as lm-eval's default; 5 as the paper)")
    subjects: list[str] | None = Field(None, description="run only these subjects (default: all 57)")
    limit_per_subject: int | None = Field(None, ge=1, description="only the first N test questions of each "
                                                                 "subject (lm-eval's --limit counts per subject)")

    @field_validator("subjects")
    @classmethod
    def _known_subjects(cls, value: list[str] | None) -> list[str] | None:
        unknown = [s for s in value or [] if s not in SUBJECTS]
        if unknown:
            raise ValueError(f"unknown subject {unknown[0]!r} (known: {', '.join(SUBJECTS)})")
        return value


def description(subject: str) -> str:
    """lm-eval's per-subject description (the ``description`` of each ``mmlu_<subject>.yaml``)."""
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"


def question_text(doc: dict[str, Any]) -> str:
    """lm-eval's ``doc_to_text`` for MMLU."""
    choices = doc["choices"]
    return (f"{doc['question'].strip()}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}"
            "\nAnswer:")


def hendrycks_root(folder: Path) -> Path | None:
    """``folder`` or ``folder/data`` when it holds Hendrycks' ``test/*_test.csv`` files."""
    for root in (folder, folder / "data"):
        if any((root / "test").glob("*_test.csv")):
            return root
    return None


def read_hendrycks(root: Path, split: str) -> list[dict[str, Any]]:
    """Every row of ``root/<split>/*_<split>.csv``, subjects in name order, as cais/mmlu documents.

    The csv module reads the fields exactly as cais/mmlu's builder did (no type guessing, so
    ``"None"`` or ``"0.50"`` stay strings).
    """
    folder_split = HENDRYCKS_SPLITS.get(split, split)
    files = sorted((root / folder_split).glob(f"*_{folder_split}.csv"))
    if not files:
        raise UserError(f"{root}: no {folder_split}/*_{folder_split}.csv files (Hendrycks' MMLU layout)")
    docs = []
    for path in files:
        subject = path.name[: -len(f"_{folder_split}.csv")]
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if len(row) != 6 or row[5] not in LETTERS:
                    raise UserError(f"{path}: expected question,A,B,C,D,answer-letter rows, got {row[:6]!r}")
                docs.append({"question": row[0], "subject": subject, "choices": row[1:5],
                             "answer": LETTERS.index(row[5])})
    return docs


def pooled_sample_stderr(stderrs: Sequence[float], sizes: Sequence[int]) -> float:
    """lm-eval's ``pooled_sample_stderr``: the standard error of a size-weighted group mean."""
    pooled_var = sum((n - 1) * se**2 * n for n, se in zip(sizes, stderrs)) / (sum(sizes) - len(sizes))
    return math.sqrt(pooled_var / sum(sizes))


@register_evaluator("mmlu")
class MMLU(Evaluator):
    Settings = MMLUSettings
    request_kinds = frozenset({"loglikelihood"})
    default_dataset = DatasetSpec(path="cais/mmlu", name="all", split="test")
    higher_is_better: ClassVar[dict[str, bool]] = {"acc": True}
    settings: MMLUSettings

    def __init__(self, settings: MMLUSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        self.prompts = PromptBuilder(settings, ctx)
        self._dev: dict[str, list[dict[str, Any]]] | None = None  # the dev split by subject, read on first use

    # -- documents ---------------------------------------------------------------------------
    def _split(self, dataset: DatasetSpec, split: str | None) -> list[dict[str, Any]]:
        """The documents of ``split`` (None: the split ``dataset`` names, as the generic loader reads it)."""
        from evalkit.data import load_records, local_folder

        folder = local_folder(dataset, self.ctx.base_dir, self.ctx.data_root)
        root = hendrycks_root(folder) if folder is not None else None
        if root is not None:
            return read_hendrycks(root, split or "test")
        if split is None:
            docs = load_records(dataset, self.ctx.base_dir, self.ctx.data_root)
        else:
            docs = load_split(dataset, split, self.ctx)
        if docs and not {"question", "subject", "choices", "answer"} <= set(docs[0]):
            raise UserError(f"dataset {dataset.path!r}: MMLU documents need the cais/mmlu fields question, "
                            f"subject, choices, answer (found: {', '.join(docs[0])})")
        return docs

    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        docs = self._split(dataset, dataset.split)
        wanted = set(self.settings.subjects or SUBJECTS)
        kept, per_subject = [], dict.fromkeys(SUBJECTS, 0)
        for doc in docs:
            subject = doc["subject"]
            if subject not in SUBJECTS:
                raise UserError(f"dataset {dataset.path!r}: unknown MMLU subject {subject!r}")
            if subject in wanted and (self.settings.limit_per_subject is None
                                      or per_subject[subject] < self.settings.limit_per_subject):
                per_subject[subject] += 1
                kept.append(doc)
        return kept

    def _dev_pool(self, subject: str) -> list[dict[str, Any]]:
        if self._dev is None:
            self._dev = {}
            for doc in self._split(self.task_dataset(), "dev"):
                self._dev.setdefault(doc["subject"], []).append(doc)
        return self._dev.get(subject, [])

    # -- requests and scores -----------------------------------------------------------------
    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        shots = []
        if self.settings.num_fewshot:
            pool = self._dev_pool(doc["subject"])
            if len(pool) < self.settings.num_fewshot:
                raise UserError(f"task {self.ctx.task_name}: num_fewshot {self.settings.num_fewshot}, but subject "
                                f"{doc['subject']} has {len(pool)} dev questions")
            # lm-eval leaves the document itself out when it evaluates the dev split.
            evaluated_split = self.task_dataset().split
            picked = FirstNSampler(pool, self.settings.num_fewshot, evaluated_split == "dev").shots(doc_id, doc)
            shots = [(question_text(s), LETTERS[s["answer"]]) for s in picked]
        context = self.prompts.context(description(doc["subject"]), shots, question_text(doc))
        return list(choice_requests(context, LETTERS, self.prompts.continuation_delimiter))

    def target(self, doc: dict[str, Any]) -> Any:
        return doc["answer"]

    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        metrics = choice_metrics(responses, LETTERS, int(doc["answer"]), ("acc",))
        # Kept with the item so that aggregate() can pool by subject, also from cached scores.
        return [ItemScore("none", [list(r) for r in responses], metrics, {"subject": doc["subject"]})]

    def subgroups(self, doc: dict[str, Any]) -> list[str]:
        task = self.ctx.task_name
        return [f"{task}_{SUBJECTS[doc['subject']]}", f"{task}_{doc['subject']}"]

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        """One subject: mean ± standard error. Several (a category, the task): lm-eval's group
        aggregation over its subject subtasks, whose size-weighted mean is the micro-average."""
        from evalkit.metrics.stats import mean, mean_stderr

        by_subject: dict[str, list[float]] = {}
        for s in scores:
            by_subject.setdefault(s.details["subject"], []).append(float(s.metrics["acc"]))
        n = len(scores)
        if len(by_subject) == 1:
            values = next(iter(by_subject.values()))
            se = mean_stderr(values) if n > 1 else math.nan
            return {"acc": Aggregate(mean(values), finite_or_none(se), n)}
        sizes = [len(v) for v in by_subject.values()]
        means = [mean(v) for v in by_subject.values()]
        value = sum(m * size for m, size in zip(means, sizes)) / sum(sizes)
        # lm-eval reports a subject of one question with stderr "N/A", and then its groups too.
        stderr = (pooled_sample_stderr([mean_stderr(v) for v in by_subject.values()], sizes)
                  if min(sizes) > 1 else None)
        return {"acc": Aggregate(value, stderr, n)}
