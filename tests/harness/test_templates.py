"""Chat templates for training, on real tokenizers: the shipped ones give TRL its assistant mask (end-of-turn
token included); SmolLM2's own ChatML is swapped for the marked equivalent only because it renders the same."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from trl.chat_template_utils import is_chat_template_stop_token_trained

from evalkit.errors import ConfigError, UserError
from evalkit.harness.config import load_train_config
from evalkit.harness.templates import SHIPPED_TEMPLATES, has_generation_markers, resolve_chat_template, shipped_template
from tests.conftest import SHARED_DATA
from tests.harness.bad_configs import BASE_WITHOUT_TEMPLATE, expected_prefix, model_without_template, write_bad_config

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "See you."}]


def tokenizer_of(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def render(tokenizer: Any, template: str, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return str(tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=add_generation_prompt))


def test_zephyr_is_the_handbook_format_with_the_tokenizers_eos(tiny_model_dir: Path) -> None:
    tokenizer = tokenizer_of(tiny_model_dir)
    template = resolve_chat_template("zephyr", tokenizer, tiny_model_dir, assistant_only_loss=True)
    eos = tokenizer.eos_token
    assert render(tokenizer, template, CONVERSATION) == (
        f"<|system|>\nBe brief.{eos}\n<|user|>\nHi{eos}\n<|assistant|>\nHello.{eos}\n<|user|>\nBye{eos}\n"
        f"<|assistant|>\nSee you.{eos}\n")
    assert render(tokenizer, template, CONVERSATION[1:2], add_generation_prompt=True) == f"<|user|>\nHi{eos}\n" \
                                                                                          "<|assistant|>\n"


def test_chatml_renders_chatml(tiny_model_dir: Path) -> None:
    tokenizer = tokenizer_of(tiny_model_dir)
    template = resolve_chat_template("chatml", tokenizer, tiny_model_dir, assistant_only_loss=False)
    assert render(tokenizer, template, CONVERSATION[:3]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n")
    assert render(tokenizer, template, CONVERSATION[1:2], True).endswith("<|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.parametrize("name", SHIPPED_TEMPLATES)
def test_shipped_markers_give_trl_the_assistant_mask_with_the_end_of_turn(name: str, tiny_model_dir: Path) -> None:
    tokenizer = tokenizer_of(tiny_model_dir)
    template = shipped_template(name)
    out = tokenizer.apply_chat_template(CONVERSATION, chat_template=template, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    trained = [tok for tok, keep in zip(out["input_ids"], out["assistant_masks"]) if keep]
    end = tokenizer.eos_token if name == "zephyr" else "<|im_end|>"
    assert tokenizer.decode(trained) == f"Hello.{end}See you.{end}"
    assert is_chat_template_stop_token_trained(tokenizer, chat_template=template)  # TRL's own check


def test_smollm2s_own_template_is_replaced_by_the_chatml_that_renders_the_same(default_model_dir: Path) -> None:
    tokenizer = tokenizer_of(default_model_dir)
    assert not has_generation_markers(tokenizer.chat_template)
    template = resolve_chat_template(None, tokenizer, default_model_dir, assistant_only_loss=True)
    assert has_generation_markers(template) and shipped_template("chatml") in template
    conversations = [CONVERSATION, CONVERSATION[1:], CONVERSATION[1:4]]
    if (SHARED_DATA / "sft" / "ultrachat_small_1000.jsonl").is_file():  # real rows, no system turn
        lines = (SHARED_DATA / "sft" / "ultrachat_small_1000.jsonl").read_text().splitlines()[:20]
        conversations += [json.loads(line)["messages"] for line in lines]
    for messages in conversations:
        for prompt in (False, True):
            assert render(tokenizer, template, messages, prompt) == render(tokenizer, tokenizer.chat_template,
                                                                           messages, prompt)
    # Without assistant-only loss the model's own template is used as it is.
    assert resolve_chat_template(None, tokenizer, default_model_dir, assistant_only_loss=False) == \
        tokenizer.chat_template


def with_template(model_dir: Path, out: Path, template: str) -> Path:
    model_without_template(model_dir, out)
    (out / "chat_template.jinja").write_text(template)
    return out


def test_an_own_template_without_an_equivalent_is_refused_with_advice(tiny_model_dir: Path, tmp_path: Path) -> None:
    odd = ("{% for m in messages %}[{{ m['role'] | upper }}] {{ m['content'] }}\n{% endfor %}"
           "{% if add_generation_prompt %}[ASSISTANT] {% endif %}")
    tokenizer = tokenizer_of(with_template(tiny_model_dir, tmp_path / "odd", odd))
    with pytest.raises(UserError) as info:
        resolve_chat_template(None, tokenizer, tmp_path, assistant_only_loss=True)
    message = str(info.value)
    assert message.startswith("model: ") and "no {% generation %} markers" in message
    assert "set chat_template: chatml or zephyr" in message and "trainer: {assistant_only_loss: false}" in message
    assert resolve_chat_template(None, tokenizer, tmp_path, assistant_only_loss=False) == odd


def test_a_template_file_next_to_the_config(tiny_model_dir: Path, tmp_path: Path) -> None:
    tokenizer = tokenizer_of(tiny_model_dir)
    (tmp_path / "templates").mkdir()
    marked = shipped_template("chatml")
    (tmp_path / "templates" / "mine.jinja").write_text(marked)
    assert resolve_chat_template("templates/mine.jinja", tokenizer, tmp_path, assistant_only_loss=True) == marked
    (tmp_path / "templates" / "plain.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(UserError, match=re.escape("has no {% generation %} markers")):
        resolve_chat_template("templates/plain.jinja", tokenizer, tmp_path, assistant_only_loss=True)


def test_a_base_model_without_a_template_is_a_located_config_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = model_without_template(tiny_model_dir, tmp_path / "base")
    path = write_bad_config(tmp_path, BASE_WITHOUT_TEMPLATE, model)
    config, base_dir = load_train_config(path)  # the file itself is fine: the model lacks the template
    with pytest.raises(ConfigError) as info:
        resolve_chat_template(config.chat_template, tokenizer_of(model), base_dir, assistant_only_loss=True,
                              error=config.error_at)
    message = str(info.value)
    assert message.startswith(expected_prefix(path, BASE_WITHOUT_TEMPLATE)) and BASE_WITHOUT_TEMPLATE[4] in message
    assert "chatml" in message and ".jinja" in message and info.value.exit_code == 2
