"""How a (prompt, answer) pair becomes a model's input, exactly as TRL 1.16 trains on the same data.

- :func:`reward_input_ids` — a reward model's input, as ``RewardTrainer._prepare_dataset`` builds it:
  text: the tokenizer's ids of ``prompt + answer``, with the EOS text appended to the answer unless it
  already ends with it; messages: ``apply_chat_template(prompt + answer, tokenize=True)`` (no generation
  prompt, nothing appended). The reward is then read at the last token that is not the pad token (the
  sequence-classification head's rule), so with pad = EOS an appended EOS is skipped, at training time
  and here alike.
- :func:`policy_continuation` — a policy's (context, continuation) texts for the answer's log-probability
  (DPO's implicit reward), as ``DPOTrainer`` splits the same data: text: the prompt, and the answer with
  the EOS text appended as above; messages: the prompt rendered with the generation prompt, and the rest
  of ``prompt + answer`` rendered (the answer with the template's end-of-turn), from where the two
  renderings diverge when the first is not a prefix of the second.

The tokenizer passed is the model's own (its chat template and EOS). Neither function loads anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.engine.requests import Message

Turns = str | Sequence[Message]


def as_chat(messages: Sequence[Message]) -> list[dict[str, str]]:
    """``(role, content)`` pairs as the ``{"role", "content"}`` dicts chat templates read."""
    return [{"role": role, "content": content} for role, content in messages]


def with_eos(answer: str, eos_token: str | None) -> str:
    """``answer`` with the EOS text appended unless it already ends with it (TRL's ``add_eos``)."""
    if eos_token and not answer.endswith(eos_token):
        return answer + eos_token
    return answer


def reward_input_ids(tokenizer: Any, prompt: Turns, answer: Turns) -> list[int]:
    """The token ids TRL's RewardTrainer trains a reward model on for this pair's answer (module doc)."""
    if isinstance(answer, str):
        if not isinstance(prompt, str):
            raise ValueError("reward_input_ids: a text answer needs a text prompt")
        return list(tokenizer(text=prompt + with_eos(answer, tokenizer.eos_token))["input_ids"])
    if isinstance(prompt, str) and prompt:
        raise ValueError("reward_input_ids: a conversational answer needs a conversational prompt")
    messages = as_chat([*(() if isinstance(prompt, str) else prompt), *answer])
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return list(encoded["input_ids"])


def policy_continuation(tokenizer: Any, prompt: Turns, answer: Turns) -> tuple[str, str]:
    """(context, continuation) whose log-likelihood under a policy is DPO's log π(answer | prompt) (module doc)."""
    if isinstance(answer, str):
        if not isinstance(prompt, str):
            raise ValueError("policy_continuation: a text answer needs a text prompt")
        return prompt, with_eos(answer, tokenizer.eos_token)
    if isinstance(prompt, str):
        raise ValueError("policy_continuation: a conversational answer needs a conversational prompt")
    context = str(tokenizer.apply_chat_template(as_chat(prompt), tokenize=False, add_generation_prompt=True))
    whole = str(tokenizer.apply_chat_template(as_chat([*prompt, *answer]), tokenize=False))
    # Some templates render the prompt alone differently (a trailing thought block): DPO then starts the
    # completion where the two diverge (trl.data_utils.common_prefix_length), here in characters.
    shared = _common_prefix_length(context, whole)
    return whole[:shared], whole[shared:]


def _common_prefix_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
