"""Greedy decoding with continuous batching: every sequence stops on its own and its slot is
refilled at once.

``model.generate`` keeps a batch alive until its slowest sequence stops, so finished rows keep
costing compute (lm-evaluation-harness decodes GSM8K that way). Here a row leaves the batch the
moment its text contains a stop string or it emits EOS, and the next waiting prompt takes its
place: the batch stays full and no step is spent on finished text. Greedy decoding makes each
row's tokens independent of its neighbours, so the texts equal one-at-a-time decoding up to
float rounding.

Rows of different lengths share one key/value cache: shorter rows are left-padded (masked) and
every row carries its own position ids, so each row sees exactly the positions it would alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.engine.generation import cut_at_stops, stop_strings
from evalkit.engine.requests import GenerateUntil

# generation_config fields that would change greedy decoding; with any of them set we defer to
# model.generate, which applies them.
_PROCESSOR_FIELDS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None,
                     "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
                     "forced_eos_token_id": None, "min_new_tokens": None, "min_length": 0,
                     "encoder_repetition_penalty": 1.0, "sequence_bias": None}


def supports_continuous_greedy(model: Any) -> bool:
    from evalkit.engine.prefix import supports_prefix_cache

    config = getattr(model, "generation_config", None)
    plain = all(getattr(config, name, default) in (default, None) for name, default in _PROCESSOR_FIELDS.items())
    return supports_prefix_cache(model) and plain


@dataclass
class _Row:
    index: int
    request: GenerateUntil
    until: list[str]
    position: int  # position id of the next token to feed
    generated: list[int] = field(default_factory=list)


class ContinuousGreedyDecoder:
    def __init__(self, backend: Any):
        import inspect

        import torch

        self.torch = torch
        self.backend = backend
        self.model = backend.model
        self.device = backend.device
        self.batch_size = backend.batch_size
        ids = getattr(self.model.generation_config, "eos_token_id", None)
        eos = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        eos.add(backend.eot_token_id)
        self.eos_ids = {i for i in eos if i is not None}
        params = inspect.signature(self.model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

    def run(self, items: Sequence[tuple[int, list[int], GenerateUntil]], on_done: Callable[[int, str], None]) -> None:
        """Decode every (request index, context ids, request) and report each text as it finishes."""
        torch = self.torch
        # Longest prompts first: they are the slowest to prefill and fix the cache width early.
        waiting = sorted(items, key=lambda item: -len(item[1]))
        rows: list[_Row] = []
        cache: Any = None  # a DynamicCache whose batch rows are `rows`; kept across steps, never rebuilt per step
        mask = torch.zeros((0, 0), dtype=torch.long)
        last_logits = torch.zeros((0, 0))
        while waiting or rows:
            if waiting and len(rows) < self.batch_size:
                admitted = [waiting.pop(0) for _ in range(min(self.batch_size - len(rows), len(waiting)))]
                new_rows, new_cache, new_mask, new_logits = self._prefill(admitted)
                cache, mask = _merge(cache, mask, new_cache, new_mask) if rows else (new_cache, new_mask)
                rows += new_rows
                last_logits = new_logits if last_logits.numel() == 0 else torch.cat([last_logits, new_logits])
            tokens = last_logits.argmax(dim=-1).tolist()
            keep = []
            for n, (row, token) in enumerate(zip(rows, tokens)):
                row.generated.append(token)
                if not self._finished(row, token):
                    keep.append(n)
                    continue
                text = self.backend.tokenizer.decode(row.generated, skip_special_tokens=True)
                on_done(row.index, cut_at_stops(text, row.until))
            if len(keep) < len(rows):
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                rows = [rows[n] for n in keep]
                mask = mask[index.cpu()]
                tokens = [tokens[n] for n in keep]
                if rows:
                    cache.batch_select_indices(index)
                    mask = _trim_left(cache, mask)
            if not rows:
                last_logits = torch.zeros((0, 0))
                cache, mask = None, torch.zeros((0, 0), dtype=torch.long)
                continue
            last_logits, cache, mask = self._step(rows, tokens, cache, mask)

    # -- pieces -----------------------------------------------------------------------------------------
    def _finished(self, row: _Row, token: int) -> bool:
        if token in self.eos_ids or len(row.generated) >= row.request.max_gen_toks:
            return True
        text = self.backend.tokenizer.decode(row.generated, skip_special_tokens=False)
        return any(s and s in text for s in row.until)

    def _prefill(self, admitted: list[tuple[int, list[int], GenerateUntil]]) -> tuple[list[_Row], Any, Any, Any]:
        torch = self.torch
        contexts = []
        for _, ids, request in admitted:
            max_ctx = self.backend.max_length - request.max_gen_toks
            contexts.append(ids[-max_ctx:] if max_ctx > 0 else ids)
        width = max(len(c) for c in contexts)
        pad = self.backend.tokenizer.pad_token_id
        input_ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(contexts), width), dtype=torch.long)
        positions = torch.zeros((len(contexts), width), dtype=torch.long)
        for n, ids in enumerate(contexts):
            input_ids[n, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[n, width - len(ids):] = 1
            positions[n, width - len(ids):] = torch.arange(len(ids))
        with torch.inference_mode():
            out = self.model(input_ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=positions.to(self.device), use_cache=True, logits_to_keep=1)
        rows = [_Row(index, request, stop_strings(self.backend, request), len(ids))
                for (index, _, request), ids in zip(admitted, contexts)]
        return rows, _cache_of(out), mask, out.logits[:, -1].float()

    def _step(self, rows: list[_Row], tokens: list[int], cache: Any, mask: Any) -> tuple[Any, Any, Any]:
        torch = self.torch
        mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=torch.long)], dim=1)
        positions = torch.tensor([[row.position] for row in rows], dtype=torch.long)
        for row in rows:
            row.position += 1
        with torch.inference_mode():
            out = self.model(torch.tensor([[t] for t in tokens], device=self.device),
                             attention_mask=mask.to(self.device), position_ids=positions.to(self.device),
                             use_cache=True, **{self.cache_arg: cache})
        # The cache object grows in place (one column per step); it is only copied when rows join.
        return out.logits[:, -1].float(), cache, mask


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _merge(cache: Any, mask: Any, new_cache: Any, new_mask: Any) -> tuple[Any, Any]:
    """Stack two batches of cached rows, left-padding the shorter side (masked) to one width."""
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    old_w, new_w = mask.shape[1], new_mask.shape[1]
    width = max(old_w, new_w)

    def pad(kv: Any, w: int) -> Any:
        return F.pad(kv, (0, 0, width - w, 0)) if w < width else kv

    merged = [(torch.cat([pad(old.keys, old_w), pad(new.keys, new_w)]),
               torch.cat([pad(old.values, old_w), pad(new.values, new_w)]))
              for old, new in zip(cache.layers, new_cache.layers)]
    merged_mask = torch.cat([F.pad(mask, (width - old_w, 0)), F.pad(new_mask, (width - new_w, 0))])
    return DynamicCache(ddp_cache_data=merged), merged_mask


def _trim_left(cache: Any, mask: Any) -> Any:
    """Drop leading cache columns that no remaining row attends to (left by rows that finished)."""
    used = mask.any(dim=0).nonzero()
    start = int(used[0]) if len(used) else 0
    if start == 0:
        return mask
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
    return mask[:, start:]
