"""Log-likelihoods that compute each shared token prefix once (exact, not approximate).

lm-evaluation-harness runs every (context, continuation) pair as its own sequence: HellaSwag's
context is encoded four times (once per ending) and MMLU's 5-shot block once per question. Here:

1. Requests with identical context tokens form a *question*; its choices share the context.
2. Questions are sorted by their context tokens; neighbours whose contexts share at least
   :data:`MIN_SHARED` leading tokens form a *cluster* (MMLU: one subject's few-shot block). The
   cluster prefix runs once and its key/value cache serves every question in the cluster.
3. Each question's remaining context runs once, batched across questions on top of the prefix
   cache; its last position scores every choice's first token.
4. Longer continuations run batched, each on top of its own question's cache.

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

MIN_SHARED = 32  # shorter common prefixes cost more in bookkeeping than they save

OnScored = Callable[[list[int], list[tuple[float, bool]]], None]


@dataclass
class Question:
    context: list[int]
    choices: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, continuation ids)


def supports_prefix_cache(model: Any) -> bool:
    """Only models whose cache is a plain per-layer key/value store and whose logits are a plain
    linear head (no sliding windows, no soft-capping) take this path; others use the plain one."""
    config = model.config
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None) or []
    return (hasattr(model, "get_decoder") and model.get_output_embeddings() is not None
            and not getattr(text, "sliding_window", None) and all(t == "full_attention" for t in layer_types)
            and not getattr(text, "final_logit_softcapping", None))


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

    def __init__(self, model: Any, batch_size: int):
        import torch

        self.torch = torch
        self.model = model
        self.decoder = model.get_decoder()
        self.head = model.get_output_embeddings()
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        # transformers 5.x renamed the decoder's cache argument; older releases only know the old name.
        import inspect

        params = inspect.signature(self.decoder.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"

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
        # Longest first, as on the plain path: similar lengths batch with little padding.
        questions.sort(key=lambda q: -len(q.context))
        for start in range(0, len(questions), self.batch_size):
            self._score_questions(questions[start: start + self.batch_size], shared, prefix, on_scored)

    # -- steps ----------------------------------------------------------------------------------------
    def _prefix_cache(self, tokens: list[int]) -> list[tuple[Any, Any]]:
        torch = self.torch
        with torch.inference_mode():
            out = self.decoder(torch.tensor([tokens], device=self.device), use_cache=True)
        return [(layer.keys, layer.values) for layer in _cache_of(out).layers]

    def _score_questions(self, questions: list[Question], shared: int, prefix: list[tuple[Any, Any]] | None,
                         on_scored: OnScored) -> None:
        torch = self.torch
        from transformers import DynamicCache

        suffixes = [q.context[shared:] for q in questions]
        width = max(len(s) for s in suffixes)
        batch = torch.zeros((len(questions), width), dtype=torch.long)
        for row, ids in enumerate(suffixes):
            batch[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        cache = None
        if prefix is not None:
            cache = DynamicCache(ddp_cache_data=[(k.expand(len(questions), -1, -1, -1),
                                                  v.expand(len(questions), -1, -1, -1)) for k, v in prefix])
        with torch.inference_mode():
            out = self.decoder(batch.to(self.device), use_cache=True, **{self.cache_arg: cache})
            hidden = out.last_hidden_state
            last = torch.tensor([len(s) - 1 for s in suffixes], device=self.device)
            # The head runs only where a score is read, not over every context position.
            first_logprobs = torch.log_softmax(self.head(hidden[torch.arange(len(questions)), last]).float(), dim=-1)
            first_greedy = first_logprobs.argmax(dim=-1)

        totals: dict[int, float] = {}
        greedy: dict[int, bool] = {}
        longer: list[tuple[int, int, list[int]]] = []  # (row, request index, continuation)
        for row, q in enumerate(questions):
            for index, cont in q.choices:
                totals[index] = float(first_logprobs[row, cont[0]])
                greedy[index] = int(first_greedy[row]) == cont[0]
                if len(cont) > 1:
                    longer.append((row, index, cont))
        if longer:
            kv = [(layer.keys, layer.values) for layer in _cache_of(out).layers]
            # All choices of the batch's questions at once: the rows are short (continuations only),
            # so one call of 4x the batch keeps the matrix products as large as the plain path's.
            step = 4 * self.batch_size
            for start in range(0, len(longer), step):
                self._score_continuations(longer[start: start + step], kv, shared,
                                          [len(s) for s in suffixes], width, totals, greedy)
        indices = [i for q in questions for i, _ in q.choices]
        on_scored(indices, [(totals[i], greedy[i]) for i in indices])

    def _score_continuations(self, items: list[tuple[int, int, list[int]]], kv: list[tuple[Any, Any]], shared: int,
                             suffix_lengths: list[int], width: int, totals: dict[int, float],
                             greedy: dict[int, bool]) -> None:
        """Feed each continuation (minus its last token) after its own question's cached context."""
        torch = self.torch
        from transformers import DynamicCache

        rows = torch.tensor([row for row, _, _ in items], device=self.device)
        cache = DynamicCache(ddp_cache_data=[(k.index_select(0, rows), v.index_select(0, rows)) for k, v in kv])
        feed = [cont[:-1] for _, _, cont in items]
        cont_width = max(len(f) for f in feed)
        ids = torch.zeros((len(items), cont_width), dtype=torch.long)
        # Keys: shared prefix, the question's own context (then its right padding), then the feed.
        mask = torch.zeros((len(items), shared + width + cont_width), dtype=torch.long)
        positions = torch.zeros((len(items), cont_width), dtype=torch.long)
        for n, ((row, _, _), f) in enumerate(zip(items, feed)):
            ids[n, : len(f)] = torch.tensor(f, dtype=torch.long)
            own = suffix_lengths[row]
            mask[n, : shared + own] = 1
            mask[n, shared + width: shared + width + len(f)] = 1
            positions[n] = shared + own + torch.arange(cont_width)
        with torch.inference_mode():
            out = self.decoder(ids.to(self.device), attention_mask=mask.to(self.device),
                               position_ids=positions.to(self.device), use_cache=False, **{self.cache_arg: cache})
            hidden = out.last_hidden_state
            # One head call over every scored position of every row (not one per row).
            rows_of = [n for n, (_, _, cont) in enumerate(items) for _ in cont[1:]]
            cols_of = [j for _, _, cont in items for j in range(len(cont) - 1)]
            target = torch.tensor([t for _, _, cont in items for t in cont[1:]], device=self.device)
            logprobs = torch.log_softmax(self.head(hidden[rows_of, cols_of]).float(), dim=-1)
            picked = logprobs.gather(1, target[:, None])[:, 0].tolist()
            hits = (logprobs.argmax(dim=-1) == target).tolist()
        cursor = 0
        for _, index, cont in items:
            n = len(cont) - 1
            totals[index] += float(sum(picked[cursor: cursor + n]))
            greedy[index] = greedy[index] and all(hits[cursor: cursor + n])
            cursor += n


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values
