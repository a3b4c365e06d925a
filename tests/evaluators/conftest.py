"""Fixtures of the evaluators' tests: the HumanEval problems and a scripted coder model.

(The parity run of MMLU, HellaSwag and GSM8K against lm-eval lives with their task files, in
tests/tasks/test_lm_eval_parity.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import save_scripted_model

# -- HumanEval: the problems, and a tiny model that writes one real solution -----------------------

# After a prompt's last token ("\n", every HumanEval prompt ends with it) the scripted model writes
# these tokens, then EOS: "    return number % 1.0", HumanEval/2's solution (truncate_number).
SCRIPT_TOKENS = ["\n", "   ", " return", " number", " %", " ", "1", ".", "0"]
SCRIPTED_COMPLETION = "    return number % 1.0"


@pytest.fixture(scope="session")
def problems() -> list[dict[str, Any]]:
    from evalkit.parity.lm_eval_humaneval import packaged_problems

    return packaged_problems()


@pytest.fixture(scope="session")
def scripted_coder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The tiny random Llama with an untied output layer that makes greedy decoding follow the script.

    A random model repeats one token, so every completion fails and pass@1 agrees trivially. Here
    the output row of each script token is the input embedding of the token before it (EOS after
    the last), so on every problem greedy decoding writes ``SCRIPTED_COMPLETION`` and stops: it
    passes HumanEval/2 and fails the others.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = []
    for piece in SCRIPT_TOKENS:
        encoded = tokenizer.encode(piece, add_special_tokens=False)
        assert len(encoded) == 1, (piece, encoded)
        ids.append(encoded[0])
    ids.append(tokenizer.eos_token_id)
    return save_scripted_model(tiny_model_dir, ids, tmp_path_factory.mktemp("scripted-coder"))
