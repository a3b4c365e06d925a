"""A separable toy preference set and an independent reward computation, shared by the reward tests.

Every chosen answer carries the marker word; its rejected twin has another word in the same place and is
otherwise identical (same words before and after), so the marker is the only thing that separates them.
Rewards are computed here without evalkit: TRL's own tokenisation of a conversational pair
(``trl.data_utils._tokenize``, the chat template over prompt + answer, as ``RewardTrainer`` does), one
unpadded forward pass per answer, ``logits[0, 0]`` at the last token.
"""

from __future__ import annotations

import random
from typing import Any

MARKER = "please"
_WORDS = ["apple", "river", "stone", "cloud", "green", "table", "music", "quiet", "window", "paper", "orange",
          "garden", "silver", "forest", "candle", "bridge", "planet", "yellow", "winter", "summer", "market",
          "engine", "pocket", "rabbit", "mirror", "island", "ladder", "coffee", "button", "castle"]


def toy_pairs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` conversational pairs ``{prompt, chosen, rejected}`` (message lists), seeded."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        topic, before, after, other, last = rng.sample(_WORDS, 5)
        answer = f"{before} {{}} {after} {last} {topic}."
        pairs.append({"prompt": [{"role": "user", "content": f"Say something about {topic}."}],
                      "chosen": [{"role": "assistant", "content": answer.format(MARKER)}],
                      "rejected": [{"role": "assistant", "content": answer.format(other)}]})
    return pairs


def rewards(model: Any, tokenizer: Any, pairs: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """``(reward of chosen, reward of rejected)`` per pair (see the module docstring)."""
    import torch
    from trl.data_utils import _tokenize

    model.eval()
    out = []
    for pair in pairs:
        scored = []
        for answer in ("chosen", "rejected"):
            ids = _tokenize(tokenizer, pair["prompt"] + pair[answer])["input_ids"]
            with torch.inference_mode():
                logits = model(input_ids=torch.tensor([ids], device=model.device)).logits
            scored.append(float(logits[0, 0]))
        out.append((scored[0], scored[1]))
    return out


def accuracy(scores: list[tuple[float, float]]) -> float:
    """RewardBench's accuracy: the share of pairs whose chosen answer scores strictly higher."""
    return sum(c > r for c, r in scores) / len(scores)
