"""Chat prompts through the model's own template (the tokenizer the model is loaded with), with
lm-eval's fallback for templates that reject a system turn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.engine.backend import backend_class
from evalkit.errors import UserError
from evalkit.models import ModelRef, resolve_model
from evalkit.models.chat import ChatFormatter

# A template in the style of older Gemma ones: it raises on a system turn.
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('System role not supported') }}{% endif %}"
             "<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
             "{% if add_generation_prompt %}<assistant>{% endif %}")
BROKEN = "{{ raise_exception('this template is broken') }}"
# A template of the adapter's own, unlike the base model's (SmolLM2's ChatML).
ADAPTER = ("{% for m in messages %}[{{ m['role'] | upper }}] {{ m['content'] }}\n{% endfor %}"
           "{% if add_generation_prompt %}[ASSISTANT] {% endif %}")


def _chat_formatter(ref: ModelRef) -> ChatFormatter:
    """The formatter a run uses for ``ref`` (asked of its backend class; nothing is loaded)."""
    return backend_class(ref).chat_formatter(ref)


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


@pytest.fixture
def adapter_with_own_template(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A tiny LoRA adapter for the tiny model that ships its own tokenizer, with its own template."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "adapter"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = ADAPTER
    tokenizer.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_model_dir)
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


def test_an_adapter_is_prompted_with_the_tokenizer_it_is_loaded_with(adapter_with_own_template: Path) -> None:
    from evalkit.engine.loading import load_backend

    ref = resolve_model(str(adapter_with_own_template))
    assert ref.kind == "peft" and ref.tokenizer_path == adapter_with_own_template.resolve()
    chat = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}]
    assert _chat_formatter(ref)(chat) == "[SYSTEM] Be terse.\n[USER] 2+2?\n[ASSISTANT] "
    backend = load_backend(ref, device="cpu", dtype="float32", batch_size=1)
    assert backend.tokenizer.chat_template == ADAPTER  # type: ignore[attr-defined]
    backend.close()


def test_an_adapter_without_a_tokenizer_uses_its_bases(adapter_with_own_template: Path,
                                                       tiny_model_dir: Path) -> None:
    for name in ("tokenizer_config.json", "tokenizer.json", "chat_template.jinja", "special_tokens_map.json",
                 "vocab.json", "merges.txt"):
        (adapter_with_own_template / name).unlink(missing_ok=True)
    ref = resolve_model(str(adapter_with_own_template))
    assert ref.tokenizer_path == tiny_model_dir.resolve()
    assert _chat_formatter(ref)([{"role": "user", "content": "2+2?"}]).startswith("<|im_start|>")


def test_the_formatter_loads_nothing_until_used(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tokenizer was loaded")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    _chat_formatter(resolve_model(str(tiny_model_dir)))


def test_a_model_without_a_template_is_the_one_no_chat_template_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    from evalkit.models.chat import require_formatter

    folder = model_with_template(tiny_model_dir, tmp_path, "")
    with pytest.raises(UserError, match=f"model {folder.name}: apply_chat_template is set but the model has no "
                                        "chat template"):
        _chat_formatter(resolve_model(str(folder)))([{"role": "user", "content": "hi"}])
    with pytest.raises(UserError, match="task t: apply_chat_template is set but the model has no chat template"):
        require_formatter(None, "t")


def test_an_endpoint_takes_one_user_turn() -> None:
    format_chat = _chat_formatter(resolve_model("openai:http://127.0.0.1:9/v1#m"))
    assert format_chat([{"role": "user", "content": "hi"}]) == "hi"
    with pytest.raises(UserError, match="an endpoint takes one user turn; this task's chat prompt has 2 turns"):
        format_chat([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}])
