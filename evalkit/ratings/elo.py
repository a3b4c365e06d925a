"""Online Elo, as FastChat's ``compute_elo`` (rating_systems.py): one pass over the votes in order.

Each vote moves both ratings by ``k * (score_a - expected_a)``, where
``expected_a = 1 / (1 + base ** ((R_b - R_a) / scale))`` and ``score_a`` is 1 for a win of
model_a, 0 for a win of model_b and 0.5 for either kind of tie. The result depends on the order of
the votes; that is what online Elo means (Bradley–Terry does not).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

K = 4.0
SCALE = 400.0
BASE = 10.0
INITIAL = 1000.0


def online_elo(
    model_a: NDArray[np.integer],
    model_b: NDArray[np.integer],
    score_a: NDArray[np.floating],
    n_models: int,
    *,
    k: float = K,
    scale: float = SCALE,
    base: float = BASE,
    initial: float = INITIAL,
) -> NDArray[np.float64]:
    """Ratings after the votes, in order.

    ``model_a``, ``model_b``: (n_votes,) model indices in ``[0, n_models)``; ``score_a``: (n_votes,)
    1.0 / 0.0 / 0.5. Returns (n_models,) ratings; a model without votes keeps ``initial``.
    """
    alpha = math.log(base) / scale
    ratings = [float(initial)] * n_models
    # A plain-Python loop over lists: the update is sequential by definition, and Python floats
    # are several times faster here than indexing numpy scalars one by one.
    exp = math.exp
    for a, b, s in zip(model_a.tolist(), model_b.tolist(), score_a.tolist(), strict=True):
        ra, rb = ratings[a], ratings[b]
        update = k * (s - 1.0 / (1.0 + exp(alpha * (rb - ra))))
        ratings[a] = ra + update
        ratings[b] = rb - update
    return np.asarray(ratings, dtype=np.float64)
