"""HellaSwag's document processing as lm-eval 0.4.13's ``tasks/hellaswag/utils.py`` ``process_docs`` does it.

lm-eval maps a ``datasets.Dataset``; this takes and returns plain rows. Each row keeps its fields and
gains ``query``, ``choices`` and ``gold``, as ``Dataset.map`` merges the returned dict into the row.

Rows without ``activity_label``/``ctx_a``/``ctx_b`` (copies that keep only the joined ``ctx``, such as the
klosax-derived ``hellaswag_val.jsonl``) get ``query = preprocess(ctx)``: lm-eval raises a KeyError on
them, so this form changes no number lm-eval reports; it differs from the hub form only by the
capitalisation of ``ctx_b`` that such copies have lost.
"""

from __future__ import annotations

import re
from typing import Any

from evalkit.errors import UserError

HUB_CONTEXT = ("activity_label", "ctx_a", "ctx_b")


def preprocess(text: str) -> str:
    """lm-eval's ``preprocess``: strip, ``" [title]"`` -> ``". "``, drop ``[...]`` markers (WikiHow
    artifacts), ``"  "`` -> ``" "``."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _context(doc: dict[str, Any]) -> str:
    if all(key in doc for key in HUB_CONTEXT):
        return doc["activity_label"] + ": " + doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    if "ctx" in doc:
        return str(doc["ctx"])
    raise UserError(f"hellaswag.process_docs: a document needs {', '.join(HUB_CONTEXT)} (the hub's columns) or ctx; "
                    f"it has {', '.join(sorted(doc))}")


def _gold(doc: dict[str, Any]) -> int:
    if str(doc["label"]).strip() == "":
        raise UserError("hellaswag.process_docs: a document has no label (the hub's test split has none: "
                        "evaluate the validation split)")
    return int(doc["label"])


def process_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``Rowan/hellaswag`` (``activity_label``, ``ctx_a``, ``ctx_b``, ``endings``, ``label``) with

    ``query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())`` (``preprocess(ctx)``
    for a row with only ``ctx``), ``choices = [preprocess(ending) ...]`` and ``gold = int(label)`` added.
    """
    return [
        {**doc, "query": preprocess(_context(doc)), "choices": [preprocess(ending) for ending in doc["endings"]],
         "gold": _gold(doc)}
        for doc in docs
    ]
