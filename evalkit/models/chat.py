"""Chat messages → prompt text, as the model that answers will see them.

:class:`TemplateChat` renders with the chat template of the tokenizer the model is loaded with
(:attr:`ModelRef.tokenizer_path`: a PEFT adapter's own tokenizer when it ships one), loading that
tokenizer on first use only. :class:`SingleUserTurn` is for endpoints, which apply their own
template to the one user turn they are sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

Messages = list[dict[str, str]]


#: Renders chat messages (``{"role", "content"}`` dicts) as prompt text, generation prompt included.
ChatFormatter = Callable[[Messages], str]


def no_chat_template(who: str) -> UserError:
    """The one error for a chat prompt where there is no chat template to render it."""
    return UserError(f"{who}: apply_chat_template is set but the model has no chat template "
                     "(unset apply_chat_template)")


def require_formatter(format_chat: ChatFormatter | None, task_name: str) -> ChatFormatter:
    """``format_chat``, or :func:`no_chat_template` for a task that has none."""
    if format_chat is None:
        raise no_chat_template(f"task {task_name}")
    return format_chat


class TemplateChat:
    """Renders messages with a tokenizer's chat template, with lm-eval's fallback for templates
    that reject a system turn (the turn is dropped, warned once per formatter, i.e. per run)."""

    def __init__(self, model_name: str, tokenizer_path: Path):
        self.model_name = model_name
        self.tokenizer_path = tokenizer_path
        self._tokenizer: Any = None
        self._warned = False

    def __call__(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        """The prompt text; ``add_generation_prompt=False`` continues the final (assistant) message instead,
        as lm-eval does for a task's ``gen_prefix``."""
        from jinja2.exceptions import TemplateError

        tokenizer = self._load()
        try:
            return self._render(tokenizer, messages, add_generation_prompt)
        except TemplateError as exc:
            if not any(m["role"] == "system" for m in messages):
                raise UserError(f"model {self.model_name}: its chat template failed: {exc}") from None
            # As lm-eval does: a template that rejects a system turn (older Gemma ones) gets the
            # chat without it, said once, since the prompts then lack the instruction.
            if not self._warned:
                self._warned = True
                print(f"warning: model {self.model_name}: its chat template rejects a system turn ({exc}); "
                      "the system turn is dropped, as lm-eval does", file=sys.stderr)
            try:
                return self._render(tokenizer, [m for m in messages if m["role"] != "system"], add_generation_prompt)
            except TemplateError as again:
                raise UserError(f"model {self.model_name}: its chat template failed: {again}") from None

    def _load(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
        if not self._tokenizer.chat_template:
            raise no_chat_template(f"model {self.model_name}")
        return self._tokenizer

    @staticmethod
    def _render(tokenizer: Any, messages: Messages, add_generation_prompt: bool) -> str:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                 continue_final_message=not add_generation_prompt))


class SingleUserTurn:
    """For an endpoint: the server applies its own template to the one user turn it is sent, so
    a prompt with more turns (a system prompt, few-shot turns) cannot be sent without losing them."""

    def __init__(self, spec: str):
        self.spec = spec

    def __call__(self, messages: Messages, add_generation_prompt: bool = True) -> str:
        if not add_generation_prompt:
            raise UserError(f"--model {self.spec}: an endpoint cannot continue an assistant prefix (gen_prefix) "
                            "under a chat template")
        if len(messages) != 1 or messages[0]["role"] != "user":
            raise UserError(f"--model {self.spec}: an endpoint takes one user turn; this task's chat prompt has "
                            f"{len(messages)} turns (unset apply_chat_template or fewshot_as_multiturn)")
        return messages[0]["content"]
