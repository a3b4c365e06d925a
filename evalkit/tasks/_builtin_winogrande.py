"""WinoGrande's prompt functions as lm-eval 0.4.13's ``tasks/winogrande/preprocess_winogrande.py`` has them.

WinoGrande is a *multiple-input* task: the two options fill the blank ``_`` in two different contexts,
and the model scores the same continuation (the words after the blank) after each. So ``doc_to_text``
returns the gold index, ``doc_to_choice`` the two contexts and ``doc_to_target`` the shared continuation.
"""

from __future__ import annotations

from typing import Any

# The dataset's ``answer`` is the string "1" or "2"; lm-eval turns it into an index.
_ANSWER_INDEX = {"1": 0, "2": 1}


def doc_to_text(doc: dict[str, Any]) -> int:
    """The index (0 or 1) of the option that fills the blank correctly."""
    try:
        return _ANSWER_INDEX[doc["answer"]]
    except KeyError:
        raise ValueError(f"winogrande: answer must be '1' or '2', got {doc['answer']!r}") from None


def doc_to_target(doc: dict[str, Any]) -> str:
    """The sentence after the blank, stripped (the continuation both contexts share)."""
    sentence: str = doc["sentence"]
    return sentence[sentence.index("_") + 1 :].strip()


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The sentence up to the blank, completed once with each option."""
    sentence: str = doc["sentence"]
    before = sentence[: sentence.index("_")]
    return [before + option for option in (doc["option1"], doc["option2"])]
