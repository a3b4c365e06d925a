"""Prompt functions of GLUE's MNLI and SuperGLUE's COPA as lm-eval 0.4.13 has them.

``tasks/glue/mnli/utils.py`` ``doc_to_text`` and ``tasks/super_glue/copa/utils.py``'s three functions.
"""

from __future__ import annotations

from typing import Any

# COPA asks for the cause or the effect of the premise; the prompt joins them with this word.
_COPA_CONNECTOR = {"cause": "because", "effect": "therefore"}


def mnli_doc_to_text(doc: dict[str, Any]) -> str:
    """``premise``, then ``Question: <hypothesis, ending in one period> True, False or Neither?``, ``Answer:``."""
    hypothesis = doc["hypothesis"].strip()
    if not hypothesis.endswith("."):
        hypothesis += "."
    return f"{doc['premise']}\nQuestion: {hypothesis} True, False or Neither?\nAnswer:"


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


def copa_doc_to_text(doc: dict[str, Any]) -> str:
    """The stripped premise without its last character (the period), then " because" or " therefore"."""
    return doc["premise"].strip()[:-1] + " " + _COPA_CONNECTOR[doc["question"]]


def copa_doc_to_target(doc: dict[str, Any]) -> str:
    """The correct choice (``label`` 0: ``choice1``, else ``choice2``), first letter lowered, after a space."""
    return " " + _lower_first(doc["choice1"] if doc["label"] == 0 else doc["choice2"])


def copa_doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """Both choices, first letter lowered, each after a space."""
    return [" " + _lower_first(doc["choice1"]), " " + _lower_first(doc["choice2"])]
