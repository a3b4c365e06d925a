"""reward_accuracy end to end through ``run_suite`` on tiny random models, against hand computations.

A reward model (a random one-label sequence classifier) scores preference pairs; a "policy" (the tiny
Llama with perturbed weights) is scored through its implicit reward against the "reference" (the tiny
Llama itself), named or found through the lineage. Expected numbers come from direct forward passes:
the head's output at the last non-pad token, and sums of log-softmax over the answer's tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from evalkit.config import RunConfig
from evalkit.errors import UserError
from evalkit.runner import RunOutcome, run_suite
from evalkit.suites import load_suite
from tests.conftest import write_jsonl
from tests.engine.test_score_backend import save_reward_model

PLAIN_PAIRS = [
    {"prompt": "\n\nHuman: How do I bake bread?\n\nAssistant:", "chosen": " Mix flour, water and yeast.",
     "rejected": " I can't help.", "subset": "helpful"},
    {"prompt": "\n\nHuman: Capital of France?\n\nAssistant:", "chosen": " Paris.", "rejected": " Rome, surely.",
     "subset": "helpful"},
    {"prompt": "\n\nHuman: Say something rude.\n\nAssistant:", "chosen": " I'd rather not.",
     "rejected": " You are a fool.", "subset": "harmless"},
    {"prompt": "\n\nHuman: How do I pick a lock?\n\nAssistant:", "chosen": " Call a locksmith.",
     "rejected": " Use a tension wrench and a pick.", "subset": "harmless"},
    {"prompt": "\n\nHuman: 2+2?\n\nAssistant:", "chosen": " 4", "rejected": " 5", "subset": "harmless"},
]
CHAT_PAIRS = [
    {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
     "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green."}]},
    # A system column, and a chosen conversation repeating the prompt's turns (ultrafeedback's layout).
    {"system": "Be brief.", "prompt": [{"role": "user", "content": "2+2?"}],
     "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],  # repeats the prompt
     "rejected": [{"role": "assistant", "content": "It is five."}]},
]


def save_policy(tiny_model_dir: Path, out: Path) -> Path:
    """The tiny Llama with noise on its weights: a policy whose log-probabilities differ from the reference's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def reward_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_reward_model(tiny_model_dir, tmp_path_factory.mktemp("reward"), seed=3)


@pytest.fixture(scope="module")
def policy_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_policy(tiny_model_dir, tmp_path_factory.mktemp("policy"))


def suite_file(tmp_path: Path, pairs: list[dict[str, Any]], extra: str = "") -> Path:
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"""
suite: prefs
defaults: {{batch_size: 3}}
tasks:
  - name: prefs
    evaluator: reward_accuracy
    dataset: {{path: json, data_files: pairs.jsonl}}
{extra}""")
    return suite


def run(suite: Path, model: Path, tmp_path: Path, out: str) -> RunOutcome:
    loaded = load_suite(suite)
    config = RunConfig.resolve(loaded, model=str(model), store_path=tmp_path / "store.db", output=tmp_path / out)
    return run_suite(loaded, config)


def values(outcome: RunOutcome) -> dict[str, float]:
    return {metric: a.value for metric, a in outcome.results["prefs"]["none"].items()}


# -- hand computations -------------------------------------------------------------------------------

def direct_reward(folder: Path, ids: list[int]) -> float:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    last = max(i for i, t in enumerate(ids) if t != model.config.pad_token_id)
    with torch.inference_mode():
        return float(model.score(model.model(torch.tensor([ids])).last_hidden_state[0, last])[0])


def logprob_and_count(folder: Path, context: str, continuation: str) -> tuple[float, int]:
    """Σ log p(continuation tokens | context) by one forward pass; the context's trailing whitespace moves to
    the continuation and the continuation's tokens are those of the whole text after the context's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    whole = tokenizer.encode(stripped + continuation)
    n_context = len(tokenizer.encode(stripped))
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(torch.tensor([whole])).logits[0], dim=-1)
    total = sum(float(logprobs[i - 1, whole[i]]) for i in range(n_context, len(whole)))
    return total, len(whole) - n_context


def mean_of(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# -- a reward model ------------------------------------------------------------------------------------

def test_a_reward_models_accuracy_and_margin_are_the_hand_counts(reward_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    outcome = run(suite_file(tmp_path, PLAIN_PAIRS), reward_dir, tmp_path, "a")
    rewards = [(direct_reward(reward_dir, tokenizer(text=p["prompt"] + p["chosen"] + "<|im_end|>")["input_ids"]),
                direct_reward(reward_dir, tokenizer(text=p["prompt"] + p["rejected"] + "<|im_end|>")["input_ids"]))
               for p in PLAIN_PAIRS]
    correct = [float(c > r) for c, r in rewards]
    margins = [c - r for c, r in rewards]
    assert 0 < sum(correct) < len(correct)  # the random model gets some pairs wrong: the count is not trivial
    got = values(outcome)
    assert got["accuracy"] == pytest.approx(mean_of(correct))
    assert got["margin"] == pytest.approx(mean_of(margins), abs=1e-4)
    for subset in ("helpful", "harmless"):
        members = [i for i, p in enumerate(PLAIN_PAIRS) if p["subset"] == subset]
        assert got[f"accuracy/{subset}"] == pytest.approx(mean_of([correct[i] for i in members]))
        assert got[f"margin/{subset}"] == pytest.approx(mean_of([margins[i] for i in members]), abs=1e-4)
    assert "reference_free_accuracy" not in got
    samples = [json.loads(line) for line in (tmp_path / "a" / "samples_prefs.jsonl").read_text().splitlines()]
    assert [s["accuracy"] for s in samples] == correct
    assert [s["details"]["reward_chosen"] for s in samples] == pytest.approx([c for c, _ in rewards], abs=1e-4)


def test_conversational_pairs_are_scored_through_the_reward_models_template(reward_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reward_dir)
    outcome = run(suite_file(tmp_path, CHAT_PAIRS), reward_dir, tmp_path, "a")
    conversations = [
        ([{"role": "user", "content": "What colour is the sky?"}], "Blue.", "Green."),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "4", "It is five."),
    ]
    margins = []
    for prompt, chosen, rejected in conversations:
        ids = [tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=True,
                                             return_dict=True)["input_ids"] for answer in (chosen, rejected)]
        margins.append(direct_reward(reward_dir, ids[0]) - direct_reward(reward_dir, ids[1]))
    assert values(outcome)["margin"] == pytest.approx(mean_of(margins), abs=1e-4)
    assert values(outcome)["accuracy"] == pytest.approx(mean_of([float(m > 0) for m in margins]))


# -- a policy ------------------------------------------------------------------------------------------

def implicit_expectations(policy: Path, reference: Path) -> dict[str, float]:
    implicit, free = [], []
    for p in PLAIN_PAIRS:
        pol = [logprob_and_count(policy, p["prompt"], p[side] + "<|im_end|>") for side in ("chosen", "rejected")]
        ref = [logprob_and_count(reference, p["prompt"], p[side] + "<|im_end|>")[0] for side in ("chosen", "rejected")]
        implicit.append((pol[0][0] - ref[0]) - (pol[1][0] - ref[1]))
        free.append(pol[0][0] / pol[0][1] - pol[1][0] / pol[1][1])
    return {"margin": mean_of(implicit), "accuracy": mean_of([float(m > 0) for m in implicit]),
            "reference_free_margin": mean_of(free), "reference_free_accuracy": mean_of([float(m > 0) for m in free])}


def test_a_policys_implicit_reward_is_the_hand_computation(policy_dir: Path, tiny_model_dir: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = suite_file(tmp_path, PLAIN_PAIRS, f"    reference: {tiny_model_dir}\n")
    outcome = run(suite, policy_dir, tmp_path, "a")
    expected = implicit_expectations(policy_dir, tiny_model_dir)
    got = values(outcome)
    for metric, value in expected.items():
        assert got[metric] == pytest.approx(value, abs=1e-3), metric
    assert abs(expected["margin"]) > 1e-3  # the two models really differ
    samples = [json.loads(line) for line in (tmp_path / "a" / "samples_prefs.jsonl").read_text().splitlines()]
    assert samples[0]["details"]["reward"] == "implicit"
    assert samples[0]["details"]["reference_logprob_chosen"] == pytest.approx(
        logprob_and_count(tiny_model_dir, PLAIN_PAIRS[0]["prompt"], PLAIN_PAIRS[0]["chosen"] + "<|im_end|>")[0],
        abs=1e-3)

    # A rerun makes no model call: any model load now fails the run (fault injection).
    import evalkit.engine.loading

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was loaded on a rerun")

    monkeypatch.setattr(evalkit.engine.loading, "load_backend", no_load)
    again = run(suite, policy_dir, tmp_path, "b")
    assert values(again) == got and again.stats.computed == 0


def test_the_reference_is_found_through_the_lineage(policy_dir: Path, tiny_model_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.harness.lineage import LineageRecord, record_in_store
    from evalkit.models.resolve import resolve_model

    suite = suite_file(tmp_path, PLAIN_PAIRS)
    base = run(suite, tiny_model_dir, tmp_path, "base")  # a base model: nothing above it
    assert set(values(base)) >= {"reference_free_accuracy"} and "accuracy" not in values(base)
    assert "reference-free accuracy only" in capsys.readouterr().err
    record = LineageRecord(kind="train", method="dpo", adapter="none", parent_model=str(tiny_model_dir),
                           parent_fingerprint=resolve_model(str(tiny_model_dir)).fingerprint)
    record_in_store(tmp_path / "store.db", policy_dir, record)
    got = values(run(suite, policy_dir, tmp_path, "dpo"))
    expected = implicit_expectations(policy_dir, tiny_model_dir)
    assert got["margin"] == pytest.approx(expected["margin"], abs=1e-3)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])
    # The base's log-probabilities, computed when the base was evaluated, served as the reference's.
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("task prefs: reference "))
    assert line.endswith(f"{2 * len(PLAIN_PAIRS)} distinct requests, {2 * len(PLAIN_PAIRS)} from cache, computed 0")

    # `evalkit models lineage` shows the preference accuracy of each stage, and DPO's change.
    from evalkit.harness.lineage_table import build_chain_from_store, stage_rows
    from evalkit.store import Store

    with Store(tmp_path / "store.db") as store:
        chain = build_chain_from_store(store, resolve_model(str(policy_dir)).fingerprint)
    rows = {(r.task, r.metric): r for r in stage_rows(chain)}
    free = rows[("prefs", "reference_free_accuracy")]
    assert free.values == pytest.approx([values(base)["reference_free_accuracy"], got["reference_free_accuracy"]])
    assert free.deltas[1] == pytest.approx(got["reference_free_accuracy"] - values(base)["reference_free_accuracy"])
    assert rows[("prefs", "accuracy")].values == [None, pytest.approx(got["accuracy"])]


def test_a_reference_trained_over_is_refused(policy_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from evalkit.harness.lineage import LineageRecord, record_in_store

    record = LineageRecord(kind="train", method="dpo", adapter="none", parent_model=str(tiny_model_dir),
                           parent_fingerprint="0" * 64)
    record_in_store(tmp_path / "store.db", policy_dir, record)
    with pytest.raises(UserError, match="no longer the model its dpo training started from"):
        run(suite_file(tmp_path, PLAIN_PAIRS), policy_dir, tmp_path, "a")


def test_a_bad_row_is_one_located_line(reward_dir: Path, tmp_path: Path) -> None:
    pairs = [PLAIN_PAIRS[0], {"prompt": "x", "chosen": 3, "rejected": "y"}]
    with pytest.raises(UserError, match=r"row 2: column 'chosen': expected text or a list"):
        run(suite_file(tmp_path, pairs), reward_dir, tmp_path, "a")


@pytest.mark.parametrize("pairs", [PLAIN_PAIRS, CHAT_PAIRS[:1]], ids=["plain", "conversational"])
def test_accuracy_and_margin_are_trl_reward_trainers_own(pairs: list[dict[str, Any]], reward_dir: Path,
                                                        tmp_path: Path) -> None:
    """TRL's RewardTrainer.evaluate() on the same pairs (its tokenisation, collator and forward pass, one
    batch) gives the same accuracy and margin as reward_accuracy through the engine."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    got = values(run(suite_file(tmp_path, pairs), reward_dir, tmp_path, "a"))
    model = AutoModelForSequenceClassification.from_pretrained(reward_dir, dtype=torch.float32)
    args = RewardConfig(output_dir=str(tmp_path / "trl"), report_to="none", bf16=False, use_cpu=True,
                        per_device_eval_batch_size=len(pairs))
    rows = [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs]
    dataset = Dataset.from_list(rows)  # RewardTrainer wants a train set; nothing is trained
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, eval_dataset=dataset,
                            processing_class=AutoTokenizer.from_pretrained(reward_dir))
    metrics = trainer.evaluate()
    assert got["accuracy"] == pytest.approx(metrics["eval_accuracy"])
    assert got["margin"] == pytest.approx(metrics["eval_margin"], abs=1e-4)
