"""Batched ``generate_until`` on a transformers model, each sequence stopping on its own.

The batch is left-padded with an attention mask (as lm-evaluation-harness does); a finished row
stops producing tokens as soon as *its* stop string appears, and the batch ends when every row has
finished, instead of decoding a fixed budget. The text is decoded without special tokens and cut
before the first occurrence of any stop string (the EOS text counts as one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.engine.requests import GenerateUntil

if TYPE_CHECKING:
    import torch

    from evalkit.engine.hf import HFBackend


def stop_strings(backend: HFBackend, request: GenerateUntil) -> list[str]:
    """The request's stop strings plus the EOS token's text."""
    until = list(request.until)
    eos = backend.tokenizer.decode([backend.eot_token_id], skip_special_tokens=False)
    if eos and eos not in until:
        until.append(eos)
    return until


def cut_at_stops(text: str, until: Sequence[str]) -> str:
    for term in until:
        if term:
            text = text.split(term)[0]
    return text


def left_padded(contexts: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``contexts`` as one batch, each row right-aligned: ``(input ids, attention mask, position
    ids)``, all of shape ``(len(contexts), longest)``. Padding holds ``pad_id``, mask 0 and position
    0; each row's positions count from 0 at its first token, as they would without the padding."""
    import torch

    width = max(len(c) for c in contexts)
    input_ids = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(contexts), width), dtype=torch.long)
    positions = torch.zeros((len(contexts), width), dtype=torch.long)
    for row, ids in enumerate(contexts):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
            positions[row, width - len(ids):] = torch.arange(len(ids))
    return input_ids, mask, positions


def generate_batch(backend: HFBackend, contexts: list[list[int]], requests: Sequence[GenerateUntil]) -> list[str]:
    """Generate for requests that share ``until``/``max_gen_toks``/sampling (one batch)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    tokenizer = backend.tokenizer
    first = requests[0]
    until = stop_strings(backend, first)
    max_new = first.max_gen_toks
    max_ctx = backend.max_length - max_new
    contexts = [c[-max_ctx:] if max_ctx > 0 else c for c in contexts]
    pad = tokenizer.pad_token_id
    input_ids, mask, _ = left_padded(contexts, pad)
    width = input_ids.shape[1]

    class StopOnStrings(StoppingCriteria):
        """Per-row: done once the decoded new text contains a stop string."""

        def __call__(self, ids: Any, scores: Any, **kwargs: Any) -> Any:
            new = ids[:, width:]
            # Only the tail can hold a newly completed stop string; decoding the tail is cheap.
            tail = min(new.shape[1], 2 + max((len(s) for s in until), default=1))
            texts = tokenizer.batch_decode(new[:, -tail:], skip_special_tokens=False)
            return torch.tensor([any(s and s in t for s in until) for t in texts], device=ids.device)

    kwargs: dict[str, Any] = {"do_sample": False}
    if not first.sampling.greedy:
        kwargs = {"do_sample": True, "temperature": first.sampling.temperature, "top_p": first.sampling.top_p}
        torch.manual_seed(_sample_seed(first))
    with torch.inference_mode():
        out = backend.model.generate(
            input_ids=input_ids.to(backend.device), attention_mask=mask.to(backend.device),
            max_new_tokens=max_new, stopping_criteria=StoppingCriteriaList([StopOnStrings()]),
            pad_token_id=pad, use_cache=True, **kwargs)
    texts = []
    for row in out[:, width:].tolist():
        texts.append(cut_at_stops(tokenizer.decode(row, skip_special_tokens=True), until))
    return texts


def _sample_seed(request: GenerateUntil) -> int:
    """A seed that depends only on the request (prompt, settings, seed and sample index)."""
    from evalkit.engine.requests import request_hash

    blob = f"{request.sampling.seed}:{request_hash(request)}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")
