"""Few-shot samplers as lm-eval 0.4.13 draws shots (``api/samplers.py``): ``first_n`` and the default one.

Both leave out the evaluated document when the task asks for it, which lm-eval does exactly when the
few-shot split equals the test split (:meth:`evalkit.tasks.docs.TaskDocs.excludes_eval_doc`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from evalkit.errors import UserError


class FirstNSampler:
    """lm-eval's ``first_n`` sampler: the first ``k`` examples of the pool, in order (MMLU's dev split),
    leaving out the evaluated document when ``exclude_eval_doc``."""

    def __init__(self, pool: Sequence[dict[str, Any]], k: int, exclude_eval_doc: bool = False):
        self.pool, self.k, self.exclude_eval_doc = pool, k, exclude_eval_doc

    def shots(self, doc_id: int, doc: dict[str, Any]) -> list[dict[str, Any]]:
        pool = [x for x in self.pool if x != doc] if self.exclude_eval_doc else list(self.pool)
        if self.k > len(pool):
            raise UserError(f"num_fewshot {self.k}: only {len(pool)} examples are available")
        return pool[: self.k]


class RandomSampler:
    """lm-eval's default sampler: one ``random.Random(seed)`` per task, and for each document, in
    data set order, ``rnd.sample(pool, k)``.

    When the evaluated document is to be left out, lm-eval draws ``k + 1`` and drops it, so the draws
    differ from plain ``sample(pool, k)``; ``exclude_eval_doc`` mirrors that. Draws are memoised by
    ``doc_id`` and replayed in order, so the shots of a document do not depend on the order in which
    requests are built. (One exception: when a draw holds copies of the document, lm-eval redraws from
    the generator at that point; asked out of order, that redraw comes later than lm-eval's.)
    """

    def __init__(self, pool: Sequence[dict[str, Any]], k: int, seed: int, exclude_eval_doc: bool = False):
        extra = 1 if exclude_eval_doc else 0
        if k + extra > len(pool):
            raise UserError(f"num_fewshot {k}: only {len(pool)} examples are available")
        self.pool, self.k, self.exclude_eval_doc = list(pool), k, exclude_eval_doc
        self._rnd = random.Random(seed)
        self._draws: list[list[dict[str, Any]]] = []  # raw draws, by doc_id
        self._shots: dict[int, list[dict[str, Any]]] = {}

    def _draw(self) -> list[dict[str, Any]]:
        if self.k == 0:
            return []  # lm-eval returns before touching the generator
        return self._rnd.sample(self.pool, self.k + (1 if self.exclude_eval_doc else 0))

    def shots(self, doc_id: int, doc: dict[str, Any]) -> list[dict[str, Any]]:
        if doc_id not in self._shots:
            while len(self._draws) <= doc_id:  # documents not asked about yet still advance the generator
                self._draws.append(self._draw())
            picked = self._draws[doc_id]
            if self.exclude_eval_doc:
                picked = [x for x in picked if x != doc][: self.k]
                if len(picked) < self.k:  # the draw held copies of the document: lm-eval redraws without them
                    picked = self._rnd.sample([x for x in self.pool if x != doc], self.k)
            self._shots[doc_id] = picked
        return self._shots[doc_id]
