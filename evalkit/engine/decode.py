"""Greedy decoding with continuous batching: every sequence stops on its own and its slot is
refilled at once.

``model.generate`` keeps a batch alive until its slowest sequence stops, so finished rows keep
costing compute (lm-evaluation-harness decodes GSM8K that way). Here a row leaves the batch the
moment its text contains a stop string or it emits EOS, and the next waiting prompt takes its
place: the batch stays full and no step is spent on finished text. Greedy decoding makes each
row's tokens independent of its neighbours, so the texts equal one-at-a-time decoding up to
float rounding.

Rows of different lengths share one key/value cache (:class:`_Slots`): shorter rows are
left-padded (masked) and every row carries its own position ids, so each row sees exactly the
positions it would alone. The cache is a set of preallocated slots written in place: a step
writes one column, a finished row's slot is refilled by copying one row, and nothing copies the
whole cache per step, as transformers' own growing cache does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from evalkit.engine.generation import cut_at_stops, left_padded, stop_strings
from evalkit.engine.kv_cache import cache_argument, cache_of
from evalkit.engine.requests import GenerateUntil

if TYPE_CHECKING:
    from evalkit.engine.hf import HFBackend

# generation_config fields that would change greedy decoding; with any of them set we defer to
# model.generate, which applies them.
_PROCESSOR_FIELDS = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None,
                     "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
                     "forced_eos_token_id": None, "min_new_tokens": None, "min_length": 0,
                     "encoder_repetition_penalty": 1.0, "sequence_bias": None}
# Admitted prompts at least this long are prefilled one per pass (see _prefill); shorter ones are
# batched, where padding costs less than small matrix products do.
SOLO_PREFILL = 256
SPARE_COLUMNS = 64  # cache columns allocated beyond the longest prompt, filled by decoding steps


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
    def __init__(self, backend: HFBackend):
        self.backend = backend
        self.model = backend.model
        self.device = backend.device
        self.batch_size = backend.batch_size
        ids = getattr(self.model.generation_config, "eos_token_id", None)
        eos = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        eos.add(backend.eot_token_id)
        self.eos_ids = {i for i in eos if i is not None}
        self.cache_arg = cache_argument(self.model.forward)

    def run(self, items: Sequence[tuple[int, list[int], GenerateUntil]], on_done: Callable[[int, str], None]) -> None:
        """Decode every (request index, context ids, request) and report each text as it finishes."""
        # Longest prompts first: they are the slowest to prefill and fix the cache width early.
        waiting = sorted(items, key=lambda item: -len(item[1]))
        rows: list[_Row] = []  # rows[n] lives in slot n of `slots`
        slots: _Slots | None = None  # built from the first prefill's cache (its layers' shapes)
        last_logits = torch.zeros((0, 0))
        while waiting or rows:
            if waiting and len(rows) < self.batch_size:
                admitted = [waiting.pop(0) for _ in range(min(self.batch_size - len(rows), len(waiting)))]
                new_rows, parts, new_logits = self._prefill(admitted)
                if slots is None:
                    slots = _Slots(parts[0][0], self.batch_size, self.device)
                for cache, lengths in parts:
                    slots.admit(cache, lengths)
                rows += new_rows
                last_logits = new_logits if last_logits.numel() == 0 else torch.cat([last_logits, new_logits])
            assert slots is not None
            tokens = last_logits.argmax(dim=-1).tolist()
            finished = []
            for n, (row, token) in enumerate(zip(rows, tokens)):
                row.generated.append(token)
                if self._finished(row, token):
                    finished.append(n)
                    text = self.backend.tokenizer.decode(row.generated, skip_special_tokens=True)
                    on_done(row.index, cut_at_stops(text, row.until))
            # Highest slot first: the last slot, which moves into the freed one, is then never finished.
            for n in reversed(finished):
                slots.remove(n)
                rows[n], tokens[n] = rows[-1], tokens[-1]
                rows.pop()
                tokens.pop()
            if not rows:
                last_logits = torch.zeros((0, 0))
                continue
            last_logits = self._step(rows, tokens, slots)

    # -- pieces -----------------------------------------------------------------------------------------
    def _finished(self, row: _Row, token: int) -> bool:
        if token in self.eos_ids or len(row.generated) >= row.request.max_gen_toks:
            return True
        text = self.backend.tokenizer.decode(row.generated, skip_special_tokens=False)
        return any(s and s in text for s in row.until)

    def _prefill(self, admitted: list[tuple[int, list[int], GenerateUntil]]) -> tuple[list[_Row], list[Any], Any]:
        """Run the admitted prompts; returns their rows, their (cache, prompt lengths) parts (each
        cache row left-padded to its batch's width) and their last logits."""
        contexts = []
        for _, ids, request in admitted:
            max_ctx = self.backend.max_length - request.max_gen_toks
            contexts.append(ids[-max_ctx:] if max_ctx > 0 else ids)
        rows = [_Row(index, request, stop_strings(self.backend, request), len(ids))
                for (index, _, request), ids in zip(admitted, contexts)]
        if len(contexts) == 1 or min(len(c) for c in contexts) >= SOLO_PREFILL:
            # One prompt per pass, unpadded: no mask, so attention takes its fast causal kernel,
            # and long prompts fill the matrix products well on their own.
            parts, logits = [], []
            for ids in contexts:
                with torch.inference_mode():
                    out = self.model(torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
                parts.append((cache_of(out), [len(ids)]))
                logits.append(out.logits[:, -1].float())
            return rows, parts, torch.cat(logits)
        input_ids, mask, positions = left_padded(contexts, self.backend.tokenizer.pad_token_id)
        with torch.inference_mode():
            out = self.model(input_ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=positions.to(self.device), use_cache=True, logits_to_keep=1)
        return rows, [(cache_of(out), [len(c) for c in contexts])], out.logits[:, -1].float()

    def _step(self, rows: list[_Row], tokens: list[int], slots: _Slots) -> Any:
        cache, mask = slots.before_step()
        positions = torch.tensor([[row.position] for row in rows], dtype=torch.long)
        for row in rows:
            row.position += 1
        with torch.inference_mode():
            out = self.model(torch.tensor([[t] for t in tokens], device=self.device), attention_mask=mask,
                             position_ids=positions.to(self.device), use_cache=True, **{self.cache_arg: cache})
        slots.after_step()
        return out.logits[:, -1].float()


class _Slots:
    """Key/value buffers for up to ``size`` rows that decode side by side.

    Every row ends at column ``end`` (shorter ones are left-padded and masked), so one step
    appends one column for all rows. Rows ``0..n-1`` are live; a finished row's slot takes the
    last live row (one row copied, not the whole cache), an admitted prompt is copied into slot
    ``n``. Attention reads only columns ``lo..end``, where ``lo`` is the first column a live row
    uses. The buffers hold only finite values (zeros, or keys of earlier rows), which masked
    attention weighs exactly zero.
    """

    def __init__(self, like: Any, size: int, device: Any):
        self.size, self.device = size, device
        self.n = self.lo = self.end = 0
        self.start: list[int] = [0] * size
        self.shapes = [(layer.keys.shape[1], layer.keys.shape[3], layer.keys.dtype) for layer in like.layers]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.mask = torch.zeros((size, 0), dtype=torch.long, device=device)
        self._allocate(SPARE_COLUMNS)
        self.layers = [_SlotLayer(self, i) for i in range(len(self.shapes))]
        self.cache = DynamicCache(ddp_cache_data=[(k, v) for k, v in zip(self.keys, self.values)])
        self.cache.layers = cast("list[Any]", self.layers)  # the same list: the cache runs on our layers

    @property
    def capacity(self) -> int:
        return self.mask.shape[1]

    def admit(self, cache: Any, lengths: list[int]) -> None:
        """Copy prefilled rows (each left-padded to the batch's width) into the next free slots."""
        width = cache.layers[0].keys.shape[2]
        longest = max(lengths)
        if longest > self.end:  # shift live rows right so that the new prompt fits before `end`
            self._shift(longest - self.end)
        for row, length in enumerate(lengths):
            slot, begin = self.n, self.end - length
            for layer, keys, values in zip(cache.layers, self.keys, self.values):
                keys[slot, :, begin: self.end] = layer.keys[row, :, width - length:]
                values[slot, :, begin: self.end] = layer.values[row, :, width - length:]
            self.mask[slot] = 0
            self.mask[slot, begin: self.end] = 1
            self.start[slot] = begin
            self.n += 1
        self.lo = min(self.start[: self.n])

    def remove(self, slot: int) -> None:
        last = self.n - 1
        if slot != last:
            for keys, values in zip(self.keys, self.values):
                keys[slot, :, self.lo: self.end] = keys[last, :, self.lo: self.end]
                values[slot, :, self.lo: self.end] = values[last, :, self.lo: self.end]
            self.mask[slot] = self.mask[last]
            self.start[slot] = self.start[last]
        self.n -= 1
        self.lo = min(self.start[: self.n]) if self.n else self.end

    def before_step(self) -> tuple[Any, torch.Tensor]:
        """The cache (views over the live rows and columns) and mask for one more column."""
        if self.end == self.capacity:
            self._compact()
        self.mask[: self.n, self.end] = 1
        for layer in self.layers:
            layer.point()
        return self.cache, self.mask[: self.n, self.lo: self.end + 1]

    def after_step(self) -> None:
        self.end += 1

    # -- room -----------------------------------------------------------------------------------------
    def _shift(self, by: int) -> None:
        if self.end + by + 1 > self.capacity:
            self._allocate(max(2 * self.capacity, self.end + by + SPARE_COLUMNS))
        if self.n:
            for keys, values in zip(self.keys, self.values):
                keys[: self.n, :, self.lo + by: self.end + by] = keys[: self.n, :, self.lo: self.end].clone()
                values[: self.n, :, self.lo + by: self.end + by] = values[: self.n, :, self.lo: self.end].clone()
            self.mask[: self.n, self.lo + by: self.end + by] = self.mask[: self.n, self.lo: self.end].clone()
            self.mask[: self.n, self.lo: self.lo + by] = 0
        self.start = [s + by for s in self.start]
        self.lo += by
        self.end += by

    def _compact(self) -> None:
        """Move the live columns to the left edge, or grow the buffers if there is no dead column."""
        if self.lo == 0:
            self._allocate(max(2 * self.capacity, self.end + SPARE_COLUMNS, 1))
            return
        used = self.end - self.lo
        for keys, values in zip(self.keys, self.values):
            keys[: self.n, :, :used] = keys[: self.n, :, self.lo: self.end].clone()
            values[: self.n, :, :used] = values[: self.n, :, self.lo: self.end].clone()
        self.mask[:, :used] = self.mask[:, self.lo: self.end].clone()
        self.mask[:, used:] = 0
        self.start = [s - self.lo for s in self.start]
        self.end, self.lo = used, 0

    def _allocate(self, capacity: int) -> None:
        """Buffers of ``capacity`` columns holding the current contents."""
        old = self.capacity
        keys, values = [], []
        for n, (heads, dim, dtype) in enumerate(self.shapes):
            pair = []
            for kind in (self.keys, self.values):
                buffer = torch.zeros((self.size, heads, capacity, dim), dtype=dtype, device=self.device)
                if kind:
                    buffer[:, :, :old] = kind[n]
                pair.append(buffer)
            keys.append(pair[0])
            values.append(pair[1])
        mask = torch.zeros((self.size, capacity), dtype=torch.long, device=self.device)
        mask[:, :old] = self.mask
        self.keys, self.values, self.mask = keys, values, mask


class _SlotLayer(DynamicLayer):
    """One layer's view of :class:`_Slots`: a decoding step writes its column in place, instead
    of transformers' DynamicLayer copying the whole cache (``torch.cat``) at every step."""

    def __init__(self, slots: _Slots, index: int):
        super().__init__()
        self.slots, self.index = slots, index
        self.is_initialized = True

    def point(self) -> None:
        s = self.slots
        self.keys = s.keys[self.index][: s.n, :, s.lo: s.end]
        self.values = s.values[self.index][: s.n, :, s.lo: s.end]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.slots
        keys, values = s.keys[self.index], s.values[self.index]
        keys[: s.n, :, s.end] = key_states[:, :, -1]
        values[: s.n, :, s.end] = value_states[:, :, -1]
        self.keys, self.values = keys[: s.n, :, s.lo: s.end + 1], values[: s.n, :, s.lo: s.end + 1]
        return self.keys, self.values
