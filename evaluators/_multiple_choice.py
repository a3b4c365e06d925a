"""Multiple-choice requests and scores as lm-evaluation-harness computes them (a private helper).

One log-likelihood request per choice, ``(context, delimiter + choice)``; the prediction is the
first choice with the highest log-likelihood (``np.argmax``). ``acc_norm`` divides each
log-likelihood by the length in characters of the choice string itself, without the delimiter
(``api/task.py`` ``process_results``: ``len(i) for i in doc_to_choice(doc)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evalkit.engine.requests import Loglikelihood


def choice_requests(context: str, choices: Sequence[str], delimiter: str) -> list[Loglikelihood]:
    return [Loglikelihood(context, delimiter + choice) for choice in choices]


def choice_metrics(responses: Sequence[Any], choices: Sequence[str], gold: int,
                   metrics: Sequence[str] = ("acc",)) -> dict[str, float]:
    """``acc`` and/or ``acc_norm`` of one document from its ``[log-likelihood, is_greedy]`` responses."""
    lls = np.array([float(r[0]) for r in responses])
    gold = gold if 0 <= gold < len(choices) else -100  # lm-eval scores an out-of-range label as wrong
    out = {}
    if "acc" in metrics:
        out["acc"] = 1.0 if int(np.argmax(lls)) == gold else 0.0
    if "acc_norm" in metrics:
        # numpy as lm-eval: an empty choice divides to ±inf instead of raising.
        with np.errstate(divide="ignore", invalid="ignore"):
            normed = lls / np.array([float(len(c)) for c in choices])
        out["acc_norm"] = 1.0 if int(np.argmax(normed)) == gold else 0.0
    return out
