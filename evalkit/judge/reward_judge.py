"""A reward model as a pairwise judge (``--judge reward:PATH``): the answer it scores higher wins.

Each answer gets one score, r = the reward model's score of (question, answer), whichever position it is
shown in, so the judgment is position-free: the *ab* order (model A's answer first) says A when
r_A > r_B, B when r_A < r_B, and the *ba* order says the mirror image; both say tie only on equal scores.
Nothing is parsed, so nothing is unscored. Under the Bradley–Terry model a reward model is trained
with (TRL's RewardTrainer loss), P(A ≻ B) = σ(r_A − r_B): it is the judgment's ``weighted_win``, so the
summary's weighted win rate reads as the other judges' do.

The answer is scored as the reward model's training read such data (:class:`~evalkit.engine.requests.Score`):
with a chat template, the question as the user's turn and the answer as the assistant's (a second turn
follows as a second user and assistant turn); without one, the text format evalkit's answers use for base
models (:func:`evalkit.judge.answers.plain_prompt`), EOS appended.

Scores go through :func:`evalkit.engine.dispatch.run_requests`, each cached in the store under the reward
model's fingerprint: a rerun makes no model call, a killed run resumes. Judgments carry
``prompt_version`` ``reward-model`` and, in ``extra``, both scores (``scores``: ``{"model_a", "model_b"}``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evalkit.engine.requests import Message, Score
from evalkit.judge.client import JudgeStats
from evalkit.judge.interfaces import Answer, PairJudgment, PairVerdict, Question
from evalkit.judge.protocol import outcome_of

if TYPE_CHECKING:
    from evalkit.engine.backend import Backend
    from evalkit.judge.answers import AnswerSettings
    from evalkit.judge.protocol import PairItem
    from evalkit.models.resolve import ModelRef
    from evalkit.store import Store

PROMPT_VERSION = "reward-model"


def verdicts(score_a: float, score_b: float) -> tuple[PairVerdict, PairVerdict]:
    """(verdict of order ab, verdict of order ba), each in its own positions (module doc)."""
    if score_a > score_b:
        return PairVerdict.A, PairVerdict.B
    if score_a < score_b:
        return PairVerdict.B, PairVerdict.A
    return PairVerdict.TIE, PairVerdict.TIE


def win_probability(score_a: float, score_b: float) -> float:
    """σ(r_A − r_B), Bradley–Terry's P(A ≻ B), computed without overflow."""
    d = score_a - score_b
    return 1.0 / (1.0 + math.exp(-d)) if d >= 0 else math.exp(d) / (1.0 + math.exp(d))


class RewardJudge:
    """Judges pairs with the reward model ``ref`` through the engine (module doc)."""

    endpoint = "reward"

    def __init__(self, ref: ModelRef, *, store: Store, settings: AnswerSettings, spec: str | None = None,
                 progress: bool = True):
        from evalkit.judge.answers import has_chat_template

        self.ref = ref
        self.model = spec or ref.name
        self.store = store
        self.settings = settings
        self.progress = progress
        self.chat = has_chat_template(ref)
        self.stats = JudgeStats()

    @property
    def name(self) -> str:
        """How its judgments record it: ``reward#<spec>`` (as :func:`~evalkit.judge.protocol.judge_name` does)."""
        return f"{self.endpoint}#{self.model}"

    def score_request(self, question: Question, answer: Answer) -> Score:
        """How one answer to ``question`` is scored (module doc)."""
        from evalkit.judge.answers import plain_prompt

        two_turns = question.second_turn is not None and answer.second_answer is not None
        if self.chat:
            reply: tuple[Message, ...] = (("assistant", answer.answer),)
            if two_turns:
                assert question.second_turn is not None and answer.second_answer is not None
                reply += (("user", question.second_turn), ("assistant", answer.second_answer))
            return Score((("user", question.prompt),), reply)
        if two_turns:
            assert question.second_turn is not None and answer.second_answer is not None
            return Score("", plain_prompt([(question.prompt, answer.answer),
                                           (question.second_turn, None)]) + " " + answer.second_answer.strip())
        return Score(plain_prompt([(question.prompt, None)]), " " + answer.answer.strip())

    def scores(self, requests: Sequence[Score]) -> list[float]:
        """The reward model's score of each request, from the store where it has them."""
        from evalkit.engine.dispatch import run_requests
        from evalkit.progress import progress_bar

        bar = progress_bar(None, f"judge scores {self.model}", total=0, enabled=self.progress)

        def on_total(n: int) -> None:
            bar.total = n
            bar.refresh()

        try:
            answers, stats = run_requests(requests, store=self.store, fingerprint=self.ref.fingerprint,
                                          backend_factory=self._backend_factory, progress=bar.update,
                                          on_total=on_total)
        finally:
            bar.close()
        self.stats.calls += stats.computed
        self.stats.cached += stats.cached
        return [float(a) for a in answers]

    def judge_pair_items(self, items: list[PairItem]) -> list[PairJudgment]:
        """Each pair judged from its two answers' scores, in order (module doc)."""
        requests = [r for item in items for r in (self.score_request(item.question, item.answer_a),
                                                  self.score_request(item.question, item.answer_b))]
        scores = self.scores(requests)
        judgments = []
        for i, item in enumerate(items):
            score_a, score_b = scores[2 * i], scores[2 * i + 1]
            v_ab, v_ba = verdicts(score_a, score_b)
            extra: dict[str, object] = {"scores": {"model_a": score_a, "model_b": score_b},
                                        "weighted_win": win_probability(score_a, score_b)}
            if item.pair_id is not None:
                extra["pair_id"] = item.pair_id
            judgments.append(PairJudgment(
                question_id=item.question.id, model_a=item.model_a, model_b=item.model_b, judge=self.name,
                prompt_version=PROMPT_VERSION, mode=item.mode, verdict_ab=v_ab, verdict_ba=v_ba,
                raw_ab=f"reward A={score_a:.6g} B={score_b:.6g}", raw_ba=f"reward A={score_b:.6g} B={score_a:.6g}",
                outcome=outcome_of(v_ab, v_ba), extra=extra, category=item.question.category))
        return judgments

    def _backend_factory(self) -> Backend:
        from evalkit.engine.loading import load_backend

        return load_backend(self.ref, device=self.settings.device, dtype=self.settings.dtype,
                            batch_size=self.settings.batch_size)

    def close(self) -> None:
        """Nothing held between calls: the model loads only when a score is missing."""


def reward_judge_problem(ref: ModelRef, mode: str, reasoning: bool, prompt_version: str) -> str | None:
    """Why ``--judge reward:`` cannot judge this run (one line), or ``None``; checked before anything runs."""
    from evalkit.engine.backend import backend_class

    backend = backend_class(ref)
    if "score" not in backend.request_kinds:
        return (f"--judge reward:{ref.spec}: {backend.description}, not a reward model (a *ForSequenceClassification "
                "checkpoint or a SEQ_CLS adapter)")
    if mode != "pairwise":
        return f"--judge reward:{ref.spec}: a reward model judges pairs by their scores: --mode pairwise only"
    if reasoning:
        return f"--judge reward:{ref.spec}: a reward model writes no explanation (drop --reasoning)"
    if prompt_version != "evalkit-judge-v2":
        return f"--judge reward:{ref.spec}: a reward model reads no judge prompt (drop --prompt-version)"
    return None
