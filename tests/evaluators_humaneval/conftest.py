"""Fixtures of the HumanEval tests: the problems, and a tiny model that writes one real solution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# After a prompt's last token ("\n", every HumanEval prompt ends with it) the scripted model writes
# these tokens, then EOS: "    return number % 1.0", HumanEval/2's solution (truncate_number).
SCRIPT_TOKENS = ["\n", "   ", " return", " number", " %", " ", "1", ".", "0"]
SCRIPTED_COMPLETION = "    return number % 1.0"


@pytest.fixture(scope="session")
def problems() -> list[dict[str, Any]]:
    from tests.evaluators_humaneval.lm_eval_humaneval import packaged_problems

    return packaged_problems()


@pytest.fixture(scope="session")
def scripted_coder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny random Llama with an untied output layer that makes greedy decoding follow the script.

    A random model repeats one token, so every completion fails and pass@1 agrees trivially. Here
    the output row of each script token is the input embedding of the token before it (EOS after
    the last), so on every problem greedy decoding writes ``SCRIPTED_COMPLETION`` and stops: it
    passes HumanEval/2 and fails the others.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("scripted-coder")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = []
    for piece in SCRIPT_TOKENS:
        encoded = tokenizer.encode(piece, add_special_tokens=False)
        assert len(encoded) == 1, (piece, encoded)
        ids.append(encoded[0])
    ids.append(tokenizer.eos_token_id)
    assert len(set(ids)) == len(ids), "the script must not repeat a token"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    embeddings = model.get_input_embeddings().weight.detach()
    head = torch.nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=False)
    with torch.no_grad():
        head.weight.copy_(embeddings)
        for before, after in zip(ids, ids[1:] + ids[:1]):
            head.weight[after] = embeddings[before]
    model.lm_head = head
    model.config.tie_word_embeddings = False
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
