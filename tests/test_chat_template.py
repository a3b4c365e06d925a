"""Chat prompts through the model's own template, with lm-eval's fallback for templates that
reject a system turn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.models import resolve_model
from evalkit.runner import _chat_formatter

# A template in the style of older Gemma ones: it raises on a system turn.
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
             "{% if add_generation_prompt %}<assistant>{% endif %}")
BROKEN = "{{ raise_exception('this template is broken') }}"


def model_with_template(tiny_model_dir: Path, tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["chat_template"] = template
    config_path.write_text(json.dumps(config))
    return folder


def test_system_turn_is_dropped_when_the_template_rejects_it(tiny_model_dir: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    format_chat = _chat_formatter(resolve_model(str(model_with_template(tiny_model_dir, tmp_path, NO_SYSTEM))))
    chat = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}]
    assert format_chat(chat) == "<user>2+2?</user><assistant>"
    assert format_chat(chat[1:]) == "<user>2+2?</user><assistant>"
    format_chat(chat)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "system turn" in line]
    assert len(warnings) == 1  # once per run, not per prompt


def test_the_real_template_keeps_the_system_turn(default_model_dir: Path) -> None:
    format_chat = _chat_formatter(resolve_model(str(default_model_dir)))
    text = format_chat([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}])
    assert "Be terse." in text and "2+2?" in text


def test_a_broken_template_is_one_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    format_chat = _chat_formatter(resolve_model(str(model_with_template(tiny_model_dir, tmp_path, BROKEN))))
    with pytest.raises(UserError, match="chat template failed: this template is broken"):
        format_chat([{"role": "user", "content": "hi"}])
