"""Chat templates for training: the model's own, one shipped with evalkit (zephyr, chatml), or a file.

The template chosen here is the one the rows are rendered with and the one saved with every checkpoint,
so ``evalkit run`` formats prompts exactly as training did. Assistant-only loss needs the
``{% generation %}`` markers that transformers turns into the assistant mask; the shipped templates carry
them (around the assistant's content and its end-of-turn token, so the model learns to stop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from evalkit.errors import UserError

SHIPPED_TEMPLATES = ("chatml", "zephyr")
_MARKERS = re.compile(r"\{%-?\s*generation\s*-?%\}")  # as TRL's has_generation_markers
_CHATML_SYSTEM = re.compile(r"^<\|im_start\|>system\n(.*?)<\|im_end\|>\n", re.DOTALL)

# A conversation that exercises every turn kind, rendered with and without a system turn and a
# generation prompt: two templates that agree on all of these agree on training rows and prompts.
_PROBE = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And 3+3?\nSay it in words."},
    {"role": "assistant", "content": "Six."},
]

ErrorAt = Callable[[str, str], UserError]


def shipped_template(name: str) -> str:
    """The text of a template shipped with evalkit (``harness/chat_templates/NAME.jinja``)."""
    return resources.files("evalkit.harness").joinpath("chat_templates", f"{name}.jinja").read_text(encoding="utf-8")


def is_template_path(choice: str) -> bool:
    """Whether ``chat_template:`` names a file rather than a shipped template."""
    return "/" in choice or "\\" in choice or choice.endswith((".jinja", ".j2"))


def has_generation_markers(template: str) -> bool:
    return _MARKERS.search(template) is not None


def resolve_chat_template(choice: str | None, tokenizer: Any, base_dir: Path, *, assistant_only_loss: bool,
                          error: ErrorAt | None = None) -> str:
    """The template text to train with (and to save with every checkpoint).

    ``choice`` is None (the model's own), a shipped name, or a path to a Jinja file. With
    ``assistant_only_loss`` the template must carry ``{% generation %}`` markers: a model's own template
    without them is replaced by the shipped one that renders identical text, else refused with advice.
    A base model without a template and no choice is a UserError naming the choices.
    ``error(field, message)`` builds the errors (pass ``TrainConfig.error_at`` to locate them in the
    config file); by default a plain :class:`UserError`.
    """
    fail: ErrorAt = error or (lambda field, message: UserError(f"{field}: {message}"))
    model = getattr(tokenizer, "name_or_path", "") or "the model"
    if choice is None:
        return _own_template(tokenizer, model, assistant_only_loss, fail)
    if not is_template_path(choice):
        if choice not in SHIPPED_TEMPLATES:
            raise fail("chat_template", f"unknown chat template {choice!r} (shipped: {', '.join(SHIPPED_TEMPLATES)}"
                                        "; or a path to a .jinja file)")
        _check_tokens(choice, tokenizer, model, fail)
        return shipped_template(choice)
    path = (base_dir / choice).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail("chat_template", f"cannot read {str(path)!r} ({exc.strerror})") from None
    if assistant_only_loss and not has_generation_markers(text):
        raise fail("chat_template", f"{path} has no {{% generation %}} markers, which assistant-only loss needs: "
                                    "wrap each assistant message and its end-of-turn token in "
                                    "{% generation %}...{% endgeneration %}, or set trainer: "
                                    "{assistant_only_loss: false}")
    return text


def _own_template(tokenizer: Any, model: str, assistant_only_loss: bool, fail: ErrorAt) -> str:
    own = tokenizer.chat_template
    if isinstance(own, dict):  # named variants: the default one is what apply_chat_template uses
        own = own.get("default")
    if not own:
        raise fail("model", f"{model} has no chat template of its own; set chat_template: to zephyr "
                                    "(for a base model: turns end with its EOS token), chatml, or a path to a "
                                    ".jinja file")
    if not assistant_only_loss or has_generation_markers(own):
        return str(own)
    for candidate in _equivalents(tokenizer, own):
        if _renders_like(tokenizer, candidate, own):
            return candidate
    raise fail("model", f"{model}'s own chat template has no {{% generation %}} markers, which "
                                "assistant-only loss needs, and no template shipped with evalkit renders the same "
                                f"text; set chat_template: {' or '.join(SHIPPED_TEMPLATES)} (saved with the "
                                "checkpoint, so evaluation uses it too), or trainer: {assistant_only_loss: false}")


def _equivalents(tokenizer: Any, own: str) -> list[str]:
    """Shipped templates that might render as ``own`` does, including ChatML with the default system
    turn that some models' own ChatML templates insert (SmolLM2's)."""
    candidates = [shipped_template(name) for name in SHIPPED_TEMPLATES]
    try:
        alone = _render(tokenizer, own, _PROBE[1:2], add_generation_prompt=True)
    except Exception:  # noqa: BLE001 -- a template may raise on anything; then it has no equivalent here
        return candidates
    found = _CHATML_SYSTEM.match(alone)
    if found and _PROBE[1]["content"] not in found.group(1):
        # A Jinja string literal: json's escapes (\n, \", \uXXXX) are Jinja's too; the render check confirms it.
        candidates.append("{%- set default_system = " + json.dumps(found.group(1)) + " -%}\n"
                          + shipped_template("chatml"))
    return candidates


def _renders_like(tokenizer: Any, candidate: str, own: str) -> bool:
    for messages, add_generation_prompt in [(_PROBE, False), (_PROBE[:4], True),
                                            (_PROBE[1:], False), (_PROBE[1:4], True)]:
        try:
            same = (_render(tokenizer, candidate, messages, add_generation_prompt)
                    == _render(tokenizer, own, messages, add_generation_prompt))
        except Exception:  # noqa: BLE001 -- a template that raises on a probe is not an equivalent
            return False
        if not same:
            return False
    return True


def _render(tokenizer: Any, template: str, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return str(tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=add_generation_prompt))


def _check_tokens(name: str, tokenizer: Any, model: str, fail: ErrorAt) -> None:
    """The shipped template's end-of-turn token is one token of this tokenizer (else the model could not
    learn to stop, and generation would not end on it)."""
    if name == "zephyr":
        if not getattr(tokenizer, "eos_token", None):
            raise fail("chat_template", f"zephyr ends each turn with the EOS token, and {model}'s tokenizer has none")
        return
    for token in ("<|im_start|>", "<|im_end|>"):
        if len(tokenizer.encode(token, add_special_tokens=False)) != 1:
            raise fail("chat_template", f"chatml needs {token} as one token, and {model}'s tokenizer splits it; "
                                        "use chat_template: zephyr (it ends turns with the tokenizer's EOS)")
