"""HellaSwag's document processing as lm-eval 0.4.13's ``tasks/hellaswag/utils.py`` ``process_docs`` does it.

lm-eval maps a ``datasets.Dataset``; this takes and returns plain rows. Each row keeps its fields and
gains ``query``, ``choices`` and ``gold``, as ``Dataset.map`` merges the returned dict into the row.
"""

from __future__ import annotations

from typing import Any

from evalkit.evaluators.hellaswag import preprocess  # one copy of lm-eval's bracket clean-up


def process_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``Rowan/hellaswag`` (``activity_label``, ``ctx_a``, ``ctx_b``, ``endings``, ``label``) with

    ``query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize())``,
    ``choices = [preprocess(ending) ...]`` and ``gold = int(label)`` added.
    """
    return [
        {
            **doc,
            "query": preprocess(doc["activity_label"] + ": " + doc["ctx_a"] + " " + doc["ctx_b"].capitalize()),
            "choices": [preprocess(ending) for ending in doc["endings"]],
            "gold": int(doc["label"]),
        }
        for doc in docs
    ]
