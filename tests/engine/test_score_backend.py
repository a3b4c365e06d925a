"""Score requests and the reward-model backend, on tiny random sequence classifiers.

The reward model here is the tiny Llama of ``tiny_model_dir`` with a one-label score head (random
weights, SmolLM2's tokenizer and chat template, whose pad token is its EOS). Checked: the tokenisation
against TRL's RewardTrainer's own preprocessing, the reward against a direct forward pass, batching
against one row at a time, the adapter form against PEFT's model, and the store cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from evalkit.engine.backend import backend_class
from evalkit.engine.dispatch import run_requests
from evalkit.engine.requests import Score, request_hash, request_key
from evalkit.engine.reward import RewardBackend
from evalkit.engine.reward_inputs import policy_continuation, reward_input_ids
from evalkit.models.resolve import resolve_model
from evalkit.store import Store
from tests.conftest import collect_responses


def save_reward_model(tiny_model_dir: Path, out: Path, seed: int = 0) -> Path:
    """A random LlamaForSequenceClassification (one label, pad id set) with the tiny model's tokenizer."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = AutoConfig.from_pretrained(tiny_model_dir, num_labels=1, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    with torch.no_grad():  # rewards of a few units, so that orderings are not decided by float noise
        model.score.weight.mul_(50.0)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def save_reward_adapter(tiny_model_dir: Path, out: Path, seed: int = 0) -> Path:
    """A random SEQ_CLS LoRA (non-zero B, so it changes the base) on the causal tiny model, score head saved."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1,
                                                              pad_token_id=tokenizer.pad_token_id)
    config = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False)
    model = get_peft_model(base, config)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_reward_model(tiny_model_dir, tmp_path_factory.mktemp("reward"))


@pytest.fixture(scope="module")
def loaded(reward_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return (AutoModelForSequenceClassification.from_pretrained(reward_dir, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(reward_dir))


CONVERSATIONAL = [
    {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
     "chosen": [{"role": "assistant", "content": "Blue, on a clear day."}],
     "rejected": [{"role": "assistant", "content": "Green."}]},
    {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
     "chosen": [{"role": "assistant", "content": "4"}],
     "rejected": [{"role": "assistant", "content": "It is 5, I believe, after careful thought."}]},
]
PLAIN = [
    {"prompt": "\n\nHuman: How do I bake bread?\n\nAssistant:", "chosen": " Mix flour, water and yeast.",
     "rejected": " I can't help."},
    {"prompt": "Q: capital of France?\nA:", "chosen": " Paris<|im_end|>", "rejected": " Rome"},
]


def _messages(turns: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"]) for m in turns)


def _trl_ids(rows: list[dict[str, Any]], loaded: tuple[Any, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """TRL's own preprocessing of ``rows``: a RewardTrainer's processed train_dataset."""
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    model, tokenizer = loaded
    args = RewardConfig(output_dir=str(tmp_path / "trl"), report_to="none", max_length=None, bf16=False, use_cpu=True)
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    return [dict(row) for row in trainer.train_dataset]


@pytest.mark.parametrize("rows", [CONVERSATIONAL, PLAIN], ids=["conversational", "plain"])
def test_reward_input_ids_are_trl_reward_trainers(rows: list[dict[str, Any]], loaded: tuple[Any, Any],
                                                  tmp_path: Path) -> None:
    tokenizer = loaded[1]
    processed = _trl_ids(rows, loaded, tmp_path)
    for row, trl_row in zip(rows, processed):
        conversational = isinstance(row["prompt"], list)
        prompt = _messages(row["prompt"]) if conversational else row["prompt"]
        for side in ("chosen", "rejected"):
            answer = _messages(row[side]) if conversational else row[side]
            assert reward_input_ids(tokenizer, prompt, answer) == trl_row[f"{side}_ids"]


def test_implicit_prompt_rows_are_trl_reward_trainers(loaded: tuple[Any, Any], tmp_path: Path) -> None:
    """Without a prompt column the whole conversation (or text) is the answer, as TRL reads it."""
    tokenizer = loaded[1]
    rows = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in CONVERSATIONAL]
    for row, trl_row in zip(rows, _trl_ids(rows, loaded, tmp_path)):
        assert reward_input_ids(tokenizer, (), _messages(row["chosen"])) == trl_row["chosen_ids"]
    text_rows = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in PLAIN]
    for row, trl_row in zip(text_rows, _trl_ids(text_rows, loaded, tmp_path)):
        assert reward_input_ids(tokenizer, "", row["rejected"]) == trl_row["rejected_ids"]


def test_policy_continuation_is_dpo_trainers_split(loaded: tuple[Any, Any]) -> None:
    """Text: the EOS text appended (TRL's add_eos); messages: the answer's turn as the template closes it."""
    tokenizer = loaded[1]
    assert policy_continuation(tokenizer, "Q:", " yes") == ("Q:", " yes<|im_end|>")
    assert policy_continuation(tokenizer, "Q:", " yes<|im_end|>") == ("Q:", " yes<|im_end|>")
    context, continuation = policy_continuation(tokenizer, (("user", "hi"),), (("assistant", "yo"),))
    assert context.endswith("<|im_start|>assistant\n")
    assert continuation == "yo<|im_end|>\n"


def _requests() -> list[Score]:
    out = []
    for row in CONVERSATIONAL:
        for side in ("chosen", "rejected"):
            out.append(Score(_messages(row["prompt"]), _messages(row[side])))
    for row in PLAIN:
        for side in ("chosen", "rejected"):
            out.append(Score(row["prompt"], row[side]))
    return out


def test_reward_is_the_last_non_pad_logit_of_a_direct_forward(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    requests = _requests()
    got = collect_responses(RewardBackend(model, tokenizer, batch_size=8).score, requests)
    for request, reward in zip(requests, got):
        ids = reward_input_ids(tokenizer, request.prompt, request.answer)
        real = [i for i, t in enumerate(ids) if t != tokenizer.pad_token_id]
        with torch.inference_mode():  # one row, no padding: the head's output at the last non-pad position
            hidden = model.model(torch.tensor([ids])).last_hidden_state[0, real[-1]]
            expected = float(model.score(hidden)[0])
        assert reward == pytest.approx(expected, abs=1e-4)
    assert len({round(r, 3) for r in got}) == len(got)  # the rows really differ


def test_rewards_do_not_depend_on_the_batch(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    requests = _requests()
    one = collect_responses(RewardBackend(model, tokenizer, batch_size=1).score, requests)
    many = collect_responses(RewardBackend(model, tokenizer, batch_size=3).score, requests)
    assert max(abs(a - b) for a, b in zip(one, many)) <= 1e-5


def test_resolve_tells_reward_models_apart(tiny_model_dir: Path, reward_dir: Path, tmp_path: Path) -> None:
    checkpoint = resolve_model(str(reward_dir))
    assert checkpoint.kind == "reward" and checkpoint.base is None
    assert backend_class(checkpoint) is RewardBackend
    assert checkpoint.metadata()["model_num_parameters"] > 0
    adapter = resolve_model(str(save_reward_adapter(tiny_model_dir, tmp_path / "adapter")))
    assert adapter.kind == "reward" and adapter.base is not None and adapter.base.kind == "hf"
    assert adapter.tokenizer_path == tiny_model_dir.resolve()  # the adapter ships none: its base's
    assert backend_class(adapter) is RewardBackend
    assert resolve_model(str(tiny_model_dir)).kind == "hf"


def test_an_adapter_scores_as_peft_merged_does(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = save_reward_adapter(tiny_model_dir, tmp_path / "adapter")
    backend = RewardBackend.load(resolve_model(str(folder)), device="cpu", dtype="float32", batch_size=4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1,
                                                              pad_token_id=tokenizer.pad_token_id)
    peft_model = PeftModel.from_pretrained(base, str(folder)).eval()  # unmerged: the adapter as trained
    requests = _requests()
    got = collect_responses(backend.score, requests)
    for request, reward in zip(requests, got):
        ids = torch.tensor([reward_input_ids(tokenizer, request.prompt, request.answer)])
        with torch.inference_mode():
            assert reward == pytest.approx(float(peft_model(input_ids=ids).logits[0, 0]), abs=1e-4)


def test_score_requests_are_cached_per_request(reward_dir: Path, tmp_path: Path) -> None:
    ref = resolve_model(str(reward_dir))
    loads: list[int] = []

    def factory() -> RewardBackend:
        loads.append(1)
        return RewardBackend.load(ref, device="cpu", dtype="float32", batch_size=2)

    requests = _requests()
    with Store(tmp_path / "store.db") as store:
        first, stats = run_requests(requests[:4], store=store, fingerprint=ref.fingerprint, backend_factory=factory)
        assert stats.computed == 4
        again, stats = run_requests(requests, store=store, fingerprint=ref.fingerprint, backend_factory=factory)
    assert (stats.cached, stats.computed) == (4, len(requests) - 4)
    assert again[:4] == first and len(loads) == 2


def test_a_score_requests_key_is_its_content() -> None:
    a = Score((("user", "q"),), (("assistant", "a"),))
    assert request_key(a) == {"prompt": (("user", "q"),), "answer": (("assistant", "a"),), "kind": "score"}
    assert request_hash(a) == request_hash(Score((("user", "q"),), (("assistant", "a"),)))
    assert request_hash(a) != request_hash(Score("q", "a"))
    with pytest.raises(ValueError):
        Score("text prompt", (("assistant", "a"),))
