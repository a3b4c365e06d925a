"""Reward models (sequence classifiers with one label): :class:`~evalkit.engine.requests.Score` requests.

A reward model is a checkpoint folder whose ``config.json`` names a ``*ForSequenceClassification``
architecture, or a PEFT adapter with ``task_type: SEQ_CLS`` on a base checkpoint (merged in memory, its
score head from the adapter's ``modules_to_save``); :func:`evalkit.models.resolve.resolve_model` tells
them apart (kind ``reward``). The reward of a request is ``logits[0]`` of the model's output at the last
token that is not the pad token, for the ids :func:`~evalkit.engine.reward_inputs.reward_input_ids` gives.

Batches are right-padded with the pad id and an attention mask, as TRL's ``DataCollatorForPreference``
pads at training time: causal attention never looks right, so a row's reward does not depend on its
batch (tested against one row at a time). The pad token is the tokenizer's, else its EOS (TRL's rule).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from evalkit.engine.backend import OnBatch, register_backend
from evalkit.engine.requests import GenerateUntil, Loglikelihood, LoglikelihoodRolling, RequestKind, Score
from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.models.chat import ChatFormatter
    from evalkit.models.resolve import ModelRef

CPU_AUTO_BATCH = 8


@register_backend("reward")
class RewardBackend:
    """Answers score requests with a loaded sequence-classification model and its tokenizer."""

    request_kinds: ClassVar[frozenset[RequestKind]] = frozenset({"score"})
    description: ClassVar[str] = "a reward model (sequence classification)"

    @classmethod
    def load(cls, ref: ModelRef, *, device: str, dtype: str, batch_size: int | str) -> RewardBackend:
        """The checkpoint, or the adapter merged into its base loaded for sequence classification."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from evalkit.engine.loading import pick_device

        torch_dtype: Any = "auto" if dtype == "auto" else getattr(torch, dtype)
        tokenizer = AutoTokenizer.from_pretrained(ref.tokenizer_path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if ref.base is None:
            assert ref.path is not None
            model: Any = AutoModelForSequenceClassification.from_pretrained(ref.path, dtype=torch_dtype)
        else:
            from peft import PeftModel

            assert ref.base.path is not None and ref.path is not None
            # The base's own head (absent for a causal LM) is replaced by the adapter's trained one.
            base = _quietly_load(AutoModelForSequenceClassification, ref.base.path, num_labels=1,
                                 pad_token_id=tokenizer.pad_token_id, dtype=torch_dtype)
            model = PeftModel.from_pretrained(base, str(ref.path)).merge_and_unload()
        if model.config.num_labels != 1:
            raise UserError(f"--model {ref.spec}: a sequence classifier with {model.config.num_labels} labels; "
                            "a reward model has one")
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model.to(pick_device(device)), tokenizer, batch_size=batch_size)

    @classmethod
    def chat_formatter(cls, ref: ModelRef) -> ChatFormatter:
        from evalkit.models.chat import TemplateChat

        return TemplateChat(ref.name, ref.tokenizer_path)

    def __init__(self, model: Any, tokenizer: Any, batch_size: int | str = 8):
        import torch

        self.torch = torch
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pad_id = int(model.config.pad_token_id)
        self.device = next(model.parameters()).device
        self.max_length = _max_length(model)
        self.batch_size = CPU_AUTO_BATCH if batch_size == "auto" else int(batch_size)

    def score(self, requests: Sequence[Score], on_batch: OnBatch) -> None:
        """Answer each request with its reward (a float), longest first, ``batch_size`` rows at a time."""
        from evalkit.engine.reward_inputs import reward_input_ids

        torch = self.torch
        if not self.tokenizer.chat_template and any(isinstance(r.answer, tuple) for r in requests):
            raise UserError("the reward model has no chat template, so it cannot score conversations "
                            "(give text prompts and answers)")
        ids = [reward_input_ids(self.tokenizer, r.prompt, r.answer) for r in requests]
        for i, tokens in enumerate(ids):
            if self.max_length is not None and len(tokens) > self.max_length:
                raise UserError(f"a scored answer is {len(tokens)} tokens long, over the reward model's "
                                f"{self.max_length} positions (request {i}: {str(requests[i].answer)[:60]!r}…)")
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start: start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            batch = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                batch[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                mask[row, : len(ids[i])] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=batch.to(self.device), attention_mask=mask.to(self.device)).logits
            on_batch(chunk, [float(x) for x in logits[:, 0].float().cpu()])

    def loglikelihood(self, requests: Sequence[Loglikelihood], on_batch: OnBatch) -> None:
        raise UserError("a reward model gives scores, not log-probabilities; use a language model for this task")

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling], on_batch: OnBatch) -> None:
        raise UserError("a reward model gives scores, not log-probabilities; use a language model for this task")

    def generate_until(self, requests: Sequence[GenerateUntil], on_batch: OnBatch) -> None:
        raise UserError("a reward model does not generate; use a language model for this task")

    def close(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()


def require_reward_template(ref: ModelRef, role: str) -> None:
    """A one-line :class:`UserError` unless the reward model ``ref`` ships a chat template (conversational
    pairs are rendered with it, as its training did); reads its tokenizer files only."""
    folder = ref.tokenizer_path
    config = folder / "tokenizer_config.json"
    shipped = any((folder / name).is_file() for name in ("chat_template.jinja", "chat_template.json"))
    if not shipped and not (config.is_file() and json.loads(config.read_text()).get("chat_template")):
        raise UserError(f"{role} {ref.spec}: has no chat template, so it cannot score conversations "
                        "(give text prompts and answers)")


def _quietly_load(auto_class: Any, path: Any, **kwargs: Any) -> Any:
    """``from_pretrained`` without transformers' "newly initialized: score.weight" report, which is expected
    here: the adapter brings the trained head."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        return auto_class.from_pretrained(path, **kwargs)
    finally:
        logging.set_verbosity(verbosity)


def _max_length(model: Any) -> int | None:
    value = getattr(model.config, "max_position_embeddings", None)
    return int(value) if value else None
