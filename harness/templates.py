"""Chat templates for training: the model's own, one shipped with evalkit (zephyr, chatml), or a file.

INTERFACE SKELETON (filled in by its implementation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def resolve_chat_template(choice: str | None, tokenizer: Any, base_dir: Path, *, assistant_only_loss: bool) -> str:
    """The template text to train with (and to save with every checkpoint).

    ``choice`` is None (the model's own), a shipped name, or a path to a Jinja file. With
    ``assistant_only_loss`` the template must carry ``{% generation %}`` markers: a model's own template
    without them is replaced by the shipped one that renders identical text, else refused with advice.
    A base model without a template and no choice is a UserError naming the choices.
    """
    raise NotImplementedError
