"""Log-likelihoods that compute each shared token prefix once (exact, not approximate).

lm-evaluation-harness runs every (context, continuation) pair as its own sequence: HellaSwag's
context is encoded four times (once per ending) and MMLU's 5-shot block once per question. Here:

1. Requests with identical context tokens form a *question*; its choices share the context.
2. Questions are sorted by their context tokens; neighbours whose contexts share at least
   :data:`MIN_SHARED` leading tokens form a *cluster* (MMLU: one subject's few-shot block). The
   cluster prefix runs once and its key/value cache serves every question in the cluster.
3. Each question becomes one packed row: its remaining context, then every choice's tokens side
   by side. A tree-shaped attention mask lets each choice see the prefix and the context but not
   the other choices, and each choice's positions continue from the context, so every choice is
   computed exactly as in its own sequence. Rows run batched on top of the prefix cache, in one
   forward pass each: no second pass, no copies of the cache, no padding between choices.
   The context's last position scores every choice's first token.

Sharing is decided on the token ids that lm-eval would feed the model
(``context_enc + continuation_enc``), never on strings, so a prefix whose last token would merge
differently in another tokenization is simply not shared: the results equal the plain path's to
float rounding (tested ≤ 1e-4 in float32). Positions are those of the full sequence, so rotary
embeddings see what they would see in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.engine.kv_cache import cache_argument, cache_of

MIN_SHARED = 32  # shorter common prefixes cost more in bookkeeping than they save

OnScored = Callable[[list[int], list[tuple[float, bool]]], None]


@dataclass
class Question:
    context: list[int]
    choices: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, continuation ids)


def supports_prefix_cache(model: Any) -> bool:
    """Only models whose cache is a plain per-layer key/value store, whose logits are a plain
    linear head (no sliding windows, no soft-capping) and whose attention takes a custom 4D mask
    (eager, sdpa) take this path; others use the plain one."""
    config = model.config
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None) or []
    return (hasattr(model, "get_decoder") and model.get_output_embeddings() is not None
            and not getattr(text, "sliding_window", None) and all(t == "full_attention" for t in layer_types)
            and not getattr(text, "final_logit_softcapping", None)
            and getattr(config, "_attn_implementation", None) in (None, "eager", "sdpa"))


def group_questions(pairs: Sequence[tuple[list[int], list[int]]]) -> list[Question]:
    by_context: dict[tuple[int, ...], Question] = {}
    for i, (ctx, cont) in enumerate(pairs):
        by_context.setdefault(tuple(ctx), Question(list(ctx))).choices.append((i, list(cont)))
    return sorted(by_context.values(), key=lambda q: q.context)


def cluster_questions(questions: list[Question]) -> list[tuple[int, list[Question]]]:
    """Consecutive (sorted) questions sharing ≥ MIN_SHARED leading tokens, with the shared length.

    The shared length stays below every member's context length, so each question still feeds at
    least one token of its own (whose logits score its choices' first tokens).
    """
    clusters: list[tuple[int, list[Question]]] = []
    for q in questions:
        if clusters:
            shared, members = clusters[-1]
            common = min(shared if len(members) > 1 else len(members[0].context) - 1,
                         _common_prefix(members[-1].context, q.context), len(q.context) - 1)
            if common >= MIN_SHARED:
                clusters[-1] = (common, [*members, q])
                continue
        clusters.append((0, [q]))
    return clusters


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixScorer:
    """Scores (context ids, continuation ids) pairs with shared-prefix reuse (see module doc)."""

    def __init__(self, model: Any, batch_size: int, max_row: int):
        import torch

        self.torch = torch
        self.model = model
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        self.max_row = max_row  # a question whose packed row would be longer is split over several rows
        self.cache_arg = cache_argument(self.decoder.forward)

    def score(self, pairs: Sequence[tuple[list[int], list[int]]], on_scored: OnScored) -> None:
        unshared: list[Question] = []
        for shared, members in cluster_questions(group_questions(pairs)):
            if not shared:  # questions sharing nothing with a neighbour batch together below
                unshared += members
                continue
            self._score_batches(members, shared, self._prefix_cache(members[0].context[:shared]), on_scored)
        self._score_batches(unshared, 0, None, on_scored)

    def _score_batches(self, questions: list[Question], shared: int, prefix: list[tuple[Any, Any]] | None,
                       on_scored: OnScored) -> None:
        rows = [row for q in questions for row in _pack(q, shared, self.max_row)]
        # Longest first, as on the plain path: similar lengths batch with little padding.
        rows.sort(key=lambda r: -r.width)
        for start in range(0, len(rows), self.batch_size):
            self._score_rows(rows[start: start + self.batch_size], shared, prefix, on_scored)

    # -- steps ----------------------------------------------------------------------------------------
    def _prefix_cache(self, tokens: list[int]) -> list[tuple[Any, Any]]:
        torch = self.torch
        with torch.inference_mode():
            out = self.decoder(torch.tensor([tokens], device=self.device), use_cache=True)
        return [(layer.keys, layer.values) for layer in cache_of(out).layers]

    def _score_rows(self, rows: list[Row], shared: int, prefix: list[tuple[Any, Any]] | None,
                    on_scored: OnScored) -> None:
        """One forward pass over packed rows: each row's context, then its choices side by side."""
        torch = self.torch
        from transformers import DynamicCache

        width = max(r.width for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        for n, r in enumerate(rows):
            ids[n, : r.width] = torch.tensor(r.tokens, dtype=torch.long)
        kwargs: dict[str, Any] = {}
        if any(r.segments for r in rows):  # some choice is longer than one token: tree mask
            kwargs = self._tree_inputs(rows, shared, width)
        # Otherwise the rows are plain right-padded causal sequences and need no mask (the fast path).
        if prefix is not None:
            kwargs[self.cache_arg] = DynamicCache(ddp_cache_data=[(k.expand(len(rows), -1, -1, -1),
                                                                   v.expand(len(rows), -1, -1, -1)) for k, v in prefix])
        # Where each scored token is read: (row, position, target token, request index).
        reads = [(n, *read) for n, r in enumerate(rows) for read in r.reads()]
        with torch.inference_mode():
            hidden = self.decoder(ids.to(self.device), use_cache=prefix is not None, **kwargs).last_hidden_state
            target = torch.tensor([t for _, _, t, _ in reads], device=self.device)
            # The head runs only where a score is read, not over every position.
            logprobs = torch.log_softmax(self.head(hidden[[n for n, _, _, _ in reads],
                                                          [p for _, p, _, _ in reads]]).float(), dim=-1)
            picked = logprobs.gather(1, target[:, None])[:, 0].tolist()
            hits = (logprobs.argmax(dim=-1) == target).tolist()
        totals: dict[int, float] = {}
        greedy: dict[int, bool] = {}
        for (_, _, _, index), lp, hit in zip(reads, picked, hits):
            totals[index] = totals.get(index, 0.0) + lp
            greedy[index] = greedy.get(index, True) and hit
        indices = [index for r in rows for index, _ in r.choices]
        on_scored(indices, [(totals[i], greedy[i]) for i in indices])

    def _tree_inputs(self, rows: list[Row], shared: int, width: int) -> dict[str, Any]:
        """Attention mask and positions for packed rows.

        A context token sees the prefix and the context before it; a choice token sees the prefix,
        the whole context and its own choice's earlier tokens, never another choice. Positions
        restart after the context for every choice, so each choice sits exactly where it would in
        its own sequence. Padding sees the prefix, the context and earlier padding: no mask row is
        empty, so no softmax over nothing produces NaN.
        """
        torch = self.torch
        segment = torch.full((len(rows), width), -1, dtype=torch.long)  # 0 context, j choice j, -1 padding
        positions = shared + torch.arange(width).repeat(len(rows), 1)
        for n, r in enumerate(rows):
            segment[n, : len(r.context)] = 0
            for j, (begin, end) in enumerate(r.segments, start=1):
                segment[n, begin:end] = j
                positions[n, begin:end] = shared + len(r.context) + torch.arange(end - begin)
        causal = torch.ones((width, width), dtype=torch.bool).tril()
        visible = causal & ((segment[:, None, :] == 0) | (segment[:, None, :] == segment[:, :, None]))
        dtype = self.head.weight.dtype
        mask = torch.zeros((len(rows), 1, width, shared + width), dtype=dtype)
        mask[:, 0, :, shared:].masked_fill_(~visible, torch.finfo(dtype).min)
        return {"attention_mask": mask.to(self.device), "position_ids": positions.to(self.device)}


@dataclass
class Row:
    """One question's context (after the shared prefix) followed by some of its choices, packed.

    ``choices`` are (request index, continuation ids); ``segments`` the [begin, end) column span of
    each multi-token choice's fed tokens (all but its last) in the row.
    """

    context: list[int]
    choices: list[tuple[int, list[int]]]
    tokens: list[int] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens = list(self.context)
        for _, cont in self.choices:
            if len(cont) > 1:
                self.segments.append((len(self.tokens), len(self.tokens) + len(cont) - 1))
                self.tokens += cont[:-1]

    @property
    def width(self) -> int:
        return len(self.tokens)

    def reads(self) -> list[tuple[int, int, int]]:
        """(position whose logits predict it, target token, request index) for every scored token."""
        out = []
        spans = iter(self.segments)
        for index, cont in self.choices:
            out.append((len(self.context) - 1, cont[0], index))
            if len(cont) > 1:
                begin, _ = next(spans)
                out += [(begin + m, cont[m + 1], index) for m in range(len(cont) - 1)]
        return out


def _pack(question: Question, shared: int, max_row: int) -> list[Row]:
    """The question's choices packed after its context, in as few rows of at most ``max_row``
    tokens as fit (a row always takes at least one choice)."""
    context = question.context[shared:]
    rows: list[Row] = []
    taken: list[tuple[int, list[int]]] = []
    used = len(context)
    for choice in question.choices:
        extra = len(choice[1]) - 1
        if taken and used + extra > max_row:
            rows.append(Row(context, taken))
            taken, used = [], len(context)
        taken.append(choice)
        used += extra
    rows.append(Row(context, taken))
    return rows
