"""Token bookkeeping shared by backends, with lm-evaluation-harness's exact semantics.

These are re-implementations (lm-eval is only a test dependency), checked against it in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def split_context_continuation(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace to the continuation.

    Tokenizers attach a leading space to the following word, so ``"Answer: " + "B"`` must be
    scored as ``"Answer:" + " B"`` to match how the model saw such text in training.
    """
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(encode: Callable[[str], list[int]], context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of context and continuation: encode both joined and the context alone; the
    continuation's tokens are the difference (so tokens merging across the boundary count once)."""
    context, continuation = split_context_continuation(context, continuation)
    whole = encode(context + continuation)
    context_ids = encode(context)
    return context_ids, whole[len(context_ids):]


def rolling_windows(tokens: list[int], prefix_token: int, max_seq_len: int,
                    context_len: int = 1) -> Iterator[tuple[list[int], list[int]]]:
    """Disjoint (context, predicted) windows covering every token of ``tokens`` exactly once.

    The first window predicts up to ``max_seq_len`` tokens after ``prefix_token``; each later
    window predicts the next tokens given as much preceding text as fits in ``max_seq_len``.
    """
    assert 1 <= context_len <= max_seq_len
    if not tokens:
        return
    pred_len = max_seq_len - context_len + 1
    first = min(max_seq_len, len(tokens))
    yield _disjoint([prefix_token] + tokens[: first - 1], tokens[:first])
    predicted = first
    while predicted < len(tokens):
        window_pred_len = min(len(tokens) - predicted, pred_len)
        end = predicted + window_pred_len
        yield _disjoint(tokens[max(0, end - max_seq_len - 1): end - 1], tokens[end - window_pred_len: end])
        predicted += window_pred_len


def _disjoint(inputs: list[int], predicted: list[int]) -> tuple[list[int], list[int]]:
    # The inputs end with predicted[:-1]; keep only the part before the predictions.
    return inputs[: len(inputs) - (len(predicted) - 1)], predicted
