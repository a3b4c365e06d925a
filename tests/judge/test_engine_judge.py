"""The local judge in evalkit's engine (``local:MODEL``, prompt ``evalkit-judge-v2``): verdicts read from the
letters' probabilities equal a hand computation on the tiny model's logits; every question gets one; a
rerun makes no model call; single-answer ratings are expected scores; ``--reasoning`` reads them after
the judge's own explanation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evalkit.judge.answers import AnswerSettings
from evalkit.judge.engine_judge import EngineJudge
from evalkit.judge.interfaces import Answer, Outcome, PairVerdict, Question
from evalkit.judge.probability_protocol import (
    judge_pair_items_by_probability,
    judge_single_by_probability,
    normalise,
)
from evalkit.judge.prompts import (
    PROMPT_VERSION_V2,
    PROMPT_VERSION_V2_REASONING,
    pairwise_choice_request,
    single_choice_request,
)
from evalkit.judge.protocol import PairItem, outcome_of
from evalkit.models.resolve import resolve_model
from evalkit.store import Store

QUESTIONS = [Question("q1", "Name a primary colour."), Question("q2", "What is 2 + 2?", reference="4"),
             Question("q3", "Write a haiku about rain."), Question("q4", "Say hello.")]
ANSWERS_A = {"q1": "Red.", "q2": "4", "q3": "Rain falls on the roof", "q4": "Hello!"}
ANSWERS_B = {"q1": "Purple, I think.", "q2": "5", "q3": "No.", "q4": "Goodbye."}


def _items() -> list[PairItem]:
    return [PairItem(q, "model-a", Answer(q.id, ANSWERS_A[q.id]), "model-b", Answer(q.id, ANSWERS_B[q.id]))
            for q in QUESTIONS]


def _judge(model_dir: Path, store: Store, batch_size: int = 4) -> EngineJudge:
    ref = resolve_model(str(model_dir))
    return EngineJudge(ref, store=store, settings=AnswerSettings(device="cpu", batch_size=batch_size),
                       spec=str(model_dir), progress=False)


def _hand_logprobs(model_dir: Path, context: str, continuations: list[str]) -> list[float]:
    """Σ log p(continuation tokens | context) from one plain forward pass per continuation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    context_ids = tokenizer.encode(context)
    out = []
    for continuation in continuations:
        whole = tokenizer.encode(context + continuation)
        assert whole[:len(context_ids)] == context_ids  # the choice does not merge into the prompt's last token
        with torch.no_grad():
            logprobs = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), dim=-1)
        out.append(float(sum(logprobs[pos - 1, whole[pos]] for pos in range(len(context_ids), len(whole)))))
    return out


def test_pairwise_verdicts_equal_a_hand_computation_on_the_logits(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    with Store(tmp_path / "s.db") as store:
        judge = _judge(tiny_model_dir, store)
        judged = judge_pair_items_by_probability(_items(), judge=judge)
    assert judged is not None and len(judged) == len(QUESTIONS)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for item, j in zip(_items(), judged, strict=True):
        by_order = {}
        for order, (first, second) in (("ab", (item.answer_a, item.answer_b)), ("ba", (item.answer_b, item.answer_a))):
            request = pairwise_choice_request(item.question, first, second)
            context = tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in request.messages],
                                                    tokenize=False, add_generation_prompt=True)
            hand = _hand_logprobs(tiny_model_dir, context + "Verdict:", [" A", " B", " C"])
            stored = [j.extra["logprobs"][order][c] for c in "ABC"]  # type: ignore[index]
            assert stored == pytest.approx(hand, abs=1e-4)
            total = sum(math.exp(x) for x in hand)
            p = [math.exp(x) / total for x in hand]
            assert [j.extra["probabilities"][order][c] for c in "ABC"] == pytest.approx(p, abs=1e-5)  # type: ignore[index]
            by_order[order] = p
        letters = {0: PairVerdict.A, 1: PairVerdict.B, 2: PairVerdict.TIE}
        assert j.verdict_ab is letters[max(range(3), key=lambda i: by_order["ab"][i])]
        assert j.verdict_ba is letters[max(range(3), key=lambda i: by_order["ba"][i])]
        assert j.outcome is outcome_of(j.verdict_ab, j.verdict_ba)
        p_ab, p_ba = by_order["ab"], by_order["ba"]
        assert j.extra["weighted_win"] == pytest.approx(((p_ab[0] + p_ab[2] / 2) + (p_ba[1] + p_ba[2] / 2)) / 2,
                                                        abs=1e-5)
        assert j.prompt_version == PROMPT_VERSION_V2 and j.outcome is not Outcome.UNSCORED


def test_every_question_gets_a_verdict_and_a_rerun_makes_no_model_call(tiny_model_dir: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        first_judge = _judge(tiny_model_dir, store, batch_size=2)
        first = judge_pair_items_by_probability(_items(), judge=first_judge)
        assert first is not None
        assert all(j.verdict_ab is not PairVerdict.UNSCORED and j.verdict_ba is not PairVerdict.UNSCORED for j in first)
        assert first_judge.stats.calls == 3 * 2 * len(QUESTIONS)  # three letters, two orders, every question
        again_judge = _judge(tiny_model_dir, store, batch_size=3)
        again = judge_pair_items_by_probability(_items(), judge=again_judge)
    assert again_judge.stats.calls == 0 and again_judge.stats.cached == 3 * 2 * len(QUESTIONS)
    assert again == first


def test_single_answer_rating_is_the_expected_score(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    answers = [Answer(q.id, ANSWERS_A[q.id]) for q in QUESTIONS]
    with Store(tmp_path / "s.db") as store:
        graded = judge_single_by_probability(QUESTIONS, answers, judge=_judge(tiny_model_dir, store), model="model-a")
    assert graded is not None
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for q, answer, j in zip(QUESTIONS, answers, graded, strict=True):
        request = single_choice_request(q, answer)
        context = tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in request.messages],
                                                tokenize=False, add_generation_prompt=True)
        hand = _hand_logprobs(tiny_model_dir, context + "Rating:", [f" {s}/10" for s in range(1, 11)])
        p = normalise(hand)
        assert j.rating == pytest.approx(sum(s * ps for s, ps in zip(range(1, 11), p)), abs=1e-4)
        assert 1.0 <= (j.rating or 0) <= 10.0


def test_reasoning_reads_the_verdict_after_the_judges_explanation(tiny_model_dir: Path, tmp_path: Path) -> None:
    from evalkit.judge.prompts import after_reasoning, reasoning_request

    items = _items()[:2]
    with Store(tmp_path / "s.db") as store:
        judge = _judge(tiny_model_dir, store)
        judged = judge_pair_items_by_probability(items, judge=judge, reasoning=True, max_tokens=6)
        assert judged is not None
        first = pairwise_choice_request(items[0].question, items[0].answer_a, items[0].answer_b)
        explain = reasoning_request(first, max_tokens=6)
        calls = judge.stats.calls
        [explanation] = judge.complete_many([explain])  # the explanation the run generated, from the cache
        assert judge.stats.calls == calls
        [again] = judge.choice_logprobs([after_reasoning(first, explain, explanation)])
    j = judged[0]
    assert j.prompt_version == PROMPT_VERSION_V2_REASONING and j.raw_ab == explanation
    assert [j.extra["logprobs"]["ab"][c] for c in "ABC"] == list(again)  # type: ignore[index]
    # The verdict is read after the explanation: the context holds the judge's turn and the request for it.
    final = judge.choice_requests(after_reasoning(first, explain, explanation))[0].context
    assert final.endswith("Your verdict, one letter only (A, B or C):<|im_end|>\n<|im_start|>assistant\nVerdict:")
    assert f"<|im_start|>assistant\n{explanation}<|im_end|>" in final
