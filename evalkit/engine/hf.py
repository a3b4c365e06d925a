"""Local transformers models: log-likelihoods and generation, batched and length-sorted.

Numerics follow lm-evaluation-harness's HFLM: right-padded inputs without an attention mask for
scoring (causal attention never looks right, so padding cannot change a row), left-padded inputs
with an attention mask for generation, and log-softmax in the model's dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.engine.backend import OnBatch, register_backend
from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, RequestKind, Score
from evalkit.engine.windows import encode_pair, rolling_windows
from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.models.chat import ChatFormatter
    from evalkit.models.resolve import ModelRef

DEFAULT_MAX_LENGTH = 2048
CPU_AUTO_BATCH = 8  # on a CPU, memory is not the limit and larger batches stop paying off


@register_backend("hf", "peft")
class HFBackend:
    """Answers requests with a loaded ``PreTrainedModel`` and its tokenizer."""

    request_kinds: ClassVar[frozenset[RequestKind]] = frozenset(
        {"loglikelihood", "loglikelihood_rolling", "generate_until"})
    description: ClassVar[str] = "a local transformers model"

    @classmethod
    def load(cls, ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> HFBackend:
        """A checkpoint folder, or a PEFT adapter merged into its base, with the tokenizer at
        :attr:`ModelRef.tokenizer_path` (the one :meth:`chat_formatter` renders with)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from evalkit.engine.loading import pick_device

        device = pick_device(device)
        torch_dtype: Any = "auto" if dtype == "auto" else getattr(torch, dtype)
        source = ref.base if ref.kind == "peft" else ref
        assert source is not None and source.path is not None
        model: Any = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch_dtype)
        model = model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(ref.tokenizer_path)
        if ref.kind == "peft":
            from peft import PeftModel

            # Merged weights give the same outputs as the adapter and run at the base model's speed.
            model = PeftModel.from_pretrained(model, str(ref.path)).merge_and_unload()
        return cls(model, tokenizer, batch_size=batch_size)

    @classmethod
    def chat_formatter(cls, ref: ModelRef) -> ChatFormatter:
        from evalkit.models.chat import TemplateChat

        return TemplateChat(ref.name, ref.tokenizer_path)

    def __init__(self, model: Any, tokenizer: Any, batch_size: int | str = 8, max_length: int | None = None,
                 prefix_cache: bool | None = None, continuous_decoding: bool = True):
        import torch

        from evalkit.engine.prefix import supports_prefix_cache

        self.torch = torch
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.max_length = max_length or _model_max_length(model, tokenizer)
        self.bos_text = tokenizer.decode([self.prefix_token_id])
        self._encode = lm_eval_encoder(tokenizer)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.batch_size = self._auto_batch_size() if batch_size == "auto" else int(batch_size)
        # Shared-prefix reuse for log-likelihoods (see engine/prefix.py); None means "where supported".
        self.prefix_cache = supports_prefix_cache(model) if prefix_cache is None else prefix_cache
        self.continuous_decoding = continuous_decoding  # see engine/decode.py

    # -- tokens ------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids as lm-eval encodes them (:func:`lm_eval_encoder`)."""
        return self._encode(text)

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        """The token conditioning the first scored token of a text: BOS if the model has one."""
        return prefix_token_id(self.tokenizer)

    # -- log-likelihood ----------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Loglikelihood], on_batch: OnBatch) -> None:
        """Answer each request with ``[sum of log-probs of the continuation, is it the greedy text]``."""
        pairs = loglikelihood_token_pairs(self.encode, self.prefix_token_id, requests)

        def report(idx: list[int], out: list[tuple[float, bool]]) -> None:
            on_batch(idx, [[lp, greedy] for lp, greedy in out])

        if not self.prefix_cache:
            self._score_token_pairs(pairs, report)
            return
        from evalkit.engine.prefix import PrefixScorer

        # Sequences longer than the model's window are left-truncated as lm-eval does: plain path.
        fits = [i for i, (c, k) in enumerate(pairs) if len(c) + len(k) <= self.max_length and c and k]
        long = sorted(set(range(len(pairs))) - set(fits))
        if long:
            self._score_token_pairs([pairs[i] for i in long], lambda idx, out: report([long[j] for j in idx], out))
        PrefixScorer(self.model, self.batch_size, self.max_length).score(
            [pairs[i] for i in fits], lambda idx, out: report([fits[j] for j in idx], out))

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_batch: OnBatch) -> None:
        """Answer each request with ``[sum of log-probs of the whole text, number of tokens]``."""
        windows: list[tuple[list[int], list[int]]] = []
        owner: list[int] = []
        n_tokens = []
        for i, req in enumerate(requests):
            tokens = self.encode(req.text)
            n_tokens.append(len(tokens))
            for window in rolling_windows(tokens, self.prefix_token_id, self.max_length):
                windows.append(window)
                owner.append(i)
        totals = [0.0] * len(requests)
        remaining = [0] * len(requests)
        for i in owner:
            remaining[i] += 1
        for i, n in enumerate(n_tokens):
            if n == 0:  # an empty text has probability one
                on_batch([i], [[0.0, 0]])

        def collect(idx: list[int], out: list[tuple[float, bool]]) -> None:
            done = []
            for w, (lp, _) in zip(idx, out):
                r = owner[w]
                totals[r] += lp
                remaining[r] -= 1
                if remaining[r] == 0:
                    done.append(r)
            if done:
                on_batch(done, [[totals[r], n_tokens[r]] for r in done])

        self._score_token_pairs(windows, collect)

    def _score_token_pairs(self, pairs: Sequence[tuple[list[int], list[int]]],
                           on_batch: Callable[[list[int], list[tuple[float, bool]]], None]) -> None:
        torch = self.torch
        # Longest first: the first batch shows at once whether memory suffices, and similar lengths
        # batch together so little compute goes to padding.
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start: start + self.batch_size]
            inputs, spans = [], []
            for i in chunk:
                ctx, cont = pairs[i]
                whole = (ctx + cont)[-(self.max_length + 1):][:-1]
                inputs.append(whole)
                spans.append((len(whole), cont))
            width = max(len(x) for x in inputs)
            batch = torch.zeros((len(inputs), width), dtype=torch.long)
            for row, ids in enumerate(inputs):
                batch[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            with torch.inference_mode():
                logits = self.model(batch.to(self.device)).logits
                logprobs = torch.log_softmax(logits, dim=-1)
            out = []
            for row, (inplen, cont) in enumerate(spans):
                span = logprobs[row, inplen - len(cont): inplen]
                target = torch.tensor(cont, dtype=torch.long, device=span.device)
                greedy = bool((span.argmax(dim=-1) == target).all())
                out.append((float(span.gather(1, target[:, None]).sum()), greedy))
            on_batch(chunk, out)

    # -- generation --------------------------------------------------------------------------------
    def generate_until(self, requests: Sequence[GenerateUntil], on_batch: OnBatch) -> None:
        """Answer each request with the generated text, cut before the first stop string."""
        from evalkit.engine.generation import generate_batch

        greedy = [i for i, r in enumerate(requests) if r.sampling.greedy]
        sampled = [i for i, r in enumerate(requests) if not r.sampling.greedy]
        encoded = {i: self.encode(requests[i].context) for i in range(len(requests))}
        from evalkit.engine.decode import ContinuousGreedyDecoder, supports_continuous_greedy

        if greedy and self.continuous_decoding and supports_continuous_greedy(self.model):
            ContinuousGreedyDecoder(self).run([(i, encoded[i], requests[i]) for i in greedy],
                                              lambda i, text: on_batch([i], [text]))
            greedy = []
        # Greedy requests batch freely (their output does not depend on their neighbours), within
        # groups that share stop strings and budget, since generate() takes one of each per batch.
        groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for i in greedy:
            groups.setdefault((requests[i].until, requests[i].max_gen_toks), []).append(i)
        for members in groups.values():
            members.sort(key=lambda i: -len(encoded[i]))
            for start in range(0, len(members), self.batch_size):
                chunk = members[start: start + self.batch_size]
                on_batch(chunk, generate_batch(self, [encoded[i] for i in chunk], [requests[i] for i in chunk]))
        # Sampled requests run one by one under their own seed, so that a sample does not depend
        # on the batch size or on which other requests happened to be in the run.
        for i in sampled:
            on_batch([i], generate_batch(self, [encoded[i]], [requests[i]]))

    def score(self, requests: Sequence[Score], on_batch: OnBatch) -> None:
        raise UserError("a language model gives log-probabilities, not reward scores; score with a reward model "
                        "(a *ForSequenceClassification checkpoint or a SEQ_CLS adapter)")

    def close(self) -> None:
        """Drop the model; on a GPU its memory goes back to the device."""
        self.model = None
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()

    # -- batch size ----------------------------------------------------------------------------------
    def _auto_batch_size(self) -> int:
        """The largest batch of ``max_length``-token rows that fits (GPU), halving on OOM."""
        torch = self.torch
        if self.device.type != "cuda":
            return CPU_AUTO_BATCH
        size = 512
        length = min(self.max_length, 2048)
        while size > 1:
            try:
                with torch.inference_mode():
                    self.model(torch.zeros((size, length), dtype=torch.long, device=self.device))
                torch.cuda.empty_cache()
                return size
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                size //= 2
        return 1


def prefix_token_id(tokenizer: Any) -> int:
    """The token conditioning the first scored token of a text: BOS if the tokenizer has one, else EOS."""
    bos = tokenizer.bos_token_id
    return int(bos if bos is not None else tokenizer.eos_token_id)


def lm_eval_encoder(tokenizer: Any) -> Callable[[str], list[int]]:
    """Token ids as lm-eval encodes them: the tokenizer's own special tokens (a BOS for models trained
    with one, e.g. Gemma), except when the text already starts with the BOS text."""
    bos_text = tokenizer.decode([prefix_token_id(tokenizer)])

    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=not text.startswith(bos_text)))

    return encode


def loglikelihood_token_pairs(encode: Callable[[str], list[int]], prefix_id: int,
                              requests: Sequence[Loglikelihood]) -> list[tuple[list[int], list[int]]]:
    """(context ids, continuation ids) of each request, as :meth:`HFBackend.loglikelihood` scores them: an
    empty context is the prefix token, else lm-eval's split (:func:`~evalkit.engine.windows.encode_pair`)."""
    return [([prefix_id], encode(r.continuation)) if r.context == "" else encode_pair(encode, r.context, r.continuation)
            for r in requests]


def continuation_token_counts(tokenizer: Any, requests: Sequence[Loglikelihood]) -> list[int]:
    """How many tokens of each request's continuation a model with ``tokenizer`` scores (no model loaded):
    what a mean log-probability per token divides by."""
    pairs = loglikelihood_token_pairs(lm_eval_encoder(tokenizer), prefix_token_id(tokenizer), requests)
    return [len(continuation) for _, continuation in pairs]


def _model_max_length(model: Any, tokenizer: Any) -> int:
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, attr, None)
        if value:
            return int(value)
    tok_max = getattr(tokenizer, "model_max_length", None)
    if tok_max and tok_max < 1_000_000:
        return int(tok_max)
    return DEFAULT_MAX_LENGTH
