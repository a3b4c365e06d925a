"""Preference accuracy on held-out pairs (RewardBench's), of a reward model or of a policy's implicit reward.

Data: preference pairs in the formats DPO takes (:mod:`evalkit.evaluators._preference`), with an
optional ``subset`` column (RewardBench's per-subset results). What the reward of an answer is depends
on the model under evaluation:

- **a reward model** (a sequence classifier, kind ``reward``): its score of (prompt, answer), one
  :class:`~evalkit.engine.requests.Score` request per answer, tokenised as TRL's RewardTrainer trains.
- **a policy** (a causal LM): DPO's implicit reward with β = 1, r(y) = Σ log πθ(y|x) − Σ log π_ref(y|x)
  over the answer's tokens, one :class:`~evalkit.engine.requests.Loglikelihood` per answer on each model
  (:func:`evalkit.engine.reward_inputs.policy_continuation` splits the pair as DPOTrainer does; the
  reference answers the policy's exact requests, through the store cache under its own fingerprint).
  The reference is the ``reference`` option, else what the model's last training step started from
  (:mod:`evalkit.evaluators._reference`); a model without either gets the reference-free metrics only.
  Beside it, RewardBench's reference-free variant: the mean token log-probability under the policy,
  Σ log πθ(y|x) / |y|, |y| the answer's tokens as the engine scored them.

Metrics, per pair in the samples and aggregated as mean ± standard error (overall and ``<metric>/<subset>``):
``accuracy`` (1 when the chosen answer's reward is strictly higher: a tie is wrong) and ``margin``
(r(chosen) − r(rejected)); for a policy also ``reference_free_accuracy`` and ``reference_free_margin``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from evalkit.data import DatasetSpec
from evalkit.engine.requests import Loglikelihood, Request, Score
from evalkit.errors import UserError
from evalkit.evaluator import Evaluator, EvaluatorSettings, TaskContext, register_evaluator
from evalkit.evaluators._preference import (
    Pair,
    PairColumns,
    aggregate_pairs,
    doc_pair,
    pair_doc,
    pair_metrics,
    read_pairs,
)
from evalkit.scores import Aggregate, ItemScore

REFERENCE_FREE = "reference_free_"


class RewardAccuracySettings(EvaluatorSettings):
    prompt_field: str = Field("prompt", description="column with the prompt (absent: an implicit prompt)")
    chosen_field: str = Field("chosen", description="column with the preferred answer")
    rejected_field: str = Field("rejected", description="column with the other answer")
    system_field: str = Field("system", description="column with an optional system turn")
    subset_field: str = Field("subset", description="column naming each pair's subset (per-subset results)")
    reference: str | None = Field(None, description="a policy's reference for the implicit reward (any --model "
                                  "form); default: what its last training step started from")


class _Resolved(RewardAccuracySettings):
    """The settings with the reference's fingerprint: part of the score cache's key, so that a reference
    retrained at the same path is not read from an old score."""

    reference_fingerprint: str | None = None


@register_evaluator("reward_accuracy")
class RewardAccuracy(Evaluator):
    Settings = RewardAccuracySettings
    request_kinds = frozenset({"score", "loglikelihood"})
    higher_is_better: ClassVar[dict[str, bool]] = {
        "accuracy": True, "margin": True, f"{REFERENCE_FREE}accuracy": True, f"{REFERENCE_FREE}margin": True}
    settings: RewardAccuracySettings

    @classmethod
    def request_kinds_for(cls, answered: frozenset[str]) -> frozenset[str]:
        """A reward model gets score requests; any other model log-likelihood ones."""
        return frozenset({"score"}) if "score" in answered else frozenset({"loglikelihood"})

    def __init__(self, settings: EvaluatorSettings, ctx: TaskContext):
        super().__init__(settings, ctx)
        if ctx.model is None:
            raise UserError(f"task {ctx.task_name}: reward_accuracy scores a model's rewards: give --model")
        from evalkit.engine.backend import backend_class

        self.is_reward_model = "score" in backend_class(ctx.model).request_kinds
        self.reference = None if self.is_reward_model else self._reference()
        self.tokenizer: Any = None
        self.template_checked = False
        self.settings = _Resolved(**self.settings.model_dump(),
                                  reference_fingerprint=self.reference.fingerprint if self.reference else None)

    def _reference(self) -> Any:
        from evalkit.models.resolve import resolve_model

        assert self.ctx.model is not None
        others = self._others()
        if self.settings.reference is not None:
            reference = resolve_model(self.settings.reference)
        else:
            from evalkit.evaluators._reference import lineage_reference

            with others.store() as store:
                reference = lineage_reference(store, self.ctx.model)
        if reference is None:
            print(f"task {self.ctx.task_name}: {self.ctx.model.name} has no training step above it and no reference "
                  "option: reference-free accuracy only", file=sys.stderr)
            return None
        others.require(reference, frozenset({"loglikelihood"}), f"task {self.ctx.task_name}: reference")
        return reference

    def _others(self) -> Any:
        if self.ctx.other_models is None:
            raise UserError(f"task {self.ctx.task_name}: reward_accuracy needs the run's store (use evalkit run)")
        return self.ctx.other_models

    # -- documents ---------------------------------------------------------------------------------
    def load_docs(self, dataset: DatasetSpec) -> list[dict[str, Any]]:
        s = self.settings
        columns = PairColumns(s.prompt_field, s.chosen_field, s.rejected_field, s.system_field, s.subset_field)
        source = dataset.path if dataset.data_files is None else f"{dataset.path} {dataset.data_files}"
        return [pair_doc(p) for p in read_pairs(super().load_docs(dataset), columns, source)]

    # -- requests ----------------------------------------------------------------------------------
    def requests(self, doc: dict[str, Any], doc_id: int) -> list[Request]:
        pair = doc_pair(doc)
        if self.is_reward_model:
            if isinstance(pair.chosen, tuple) and not self.template_checked:
                from evalkit.engine.reward import require_reward_template

                assert self.ctx.model is not None
                require_reward_template(self.ctx.model, f"task {self.ctx.task_name}: --model")
                self.template_checked = True  # memoised: a pure function of the model
            return [Score(pair.prompt, pair.chosen), Score(pair.prompt, pair.rejected)]
        return [self._loglikelihood(pair, pair.chosen), self._loglikelihood(pair, pair.rejected)]

    def _loglikelihood(self, pair: Pair, answer: Any) -> Loglikelihood:
        from jinja2.exceptions import TemplateError

        from evalkit.engine.reward_inputs import policy_continuation

        tokenizer = self._tokenizer()
        assert self.ctx.model is not None
        if not isinstance(pair.prompt, str) and not tokenizer.chat_template:
            from evalkit.models.chat import no_chat_template

            raise no_chat_template(f"model {self.ctx.model.name} (task {self.ctx.task_name}: conversational pairs)")
        try:
            return Loglikelihood(*policy_continuation(tokenizer, pair.prompt, answer))
        except TemplateError as exc:
            raise UserError(f"model {self.ctx.model.name}: its chat template failed: {exc}") from None

    def _tokenizer(self) -> Any:
        if self.tokenizer is None:  # memoised: a pure function of the model
            from transformers import AutoTokenizer

            assert self.ctx.model is not None
            self.tokenizer = AutoTokenizer.from_pretrained(self.ctx.model.tokenizer_path)
        return self.tokenizer

    # -- scoring -----------------------------------------------------------------------------------
    def score(self, doc: dict[str, Any], responses: list[Any]) -> list[ItemScore]:
        return self.score_all([doc], [responses])[0]

    def score_all(self, docs: Sequence[dict[str, Any]], responses: Sequence[list[Any]]) -> list[list[ItemScore]]:
        if self.is_reward_model:
            return [[self._item(doc, {"reward_chosen": float(r[0]), "reward_rejected": float(r[1])},
                                pair_metrics("", float(r[0]), float(r[1])))] for doc, r in zip(docs, responses)]
        from evalkit.engine.hf import continuation_token_counts

        flat = [q for doc in docs for q in self.requests(doc, 0)]
        assert all(isinstance(q, Loglikelihood) for q in flat)
        counts = continuation_token_counts(self._tokenizer(), [q for q in flat if isinstance(q, Loglikelihood)])
        reference: list[Any] = [None] * len(flat)
        if self.reference is not None:
            reference, _ = self._others().answers(self.reference, flat, f"task {self.ctx.task_name}: reference")
        out = []
        for i, (doc, resps) in enumerate(zip(docs, responses)):
            policy = [float(resps[0][0]), float(resps[1][0])]
            n_tokens = counts[2 * i: 2 * i + 2]
            mean_logprob = [lp / max(n, 1) for lp, n in zip(policy, n_tokens)]
            details: dict[str, Any] = {"policy_logprob_chosen": policy[0], "policy_logprob_rejected": policy[1],
                                       "tokens_chosen": n_tokens[0], "tokens_rejected": n_tokens[1]}
            metrics = pair_metrics(REFERENCE_FREE, mean_logprob[0], mean_logprob[1])
            if self.reference is not None:
                ref = [float(reference[2 * i][0]), float(reference[2 * i + 1][0])]
                details.update(reference_logprob_chosen=ref[0], reference_logprob_rejected=ref[1],
                               reward_chosen=policy[0] - ref[0], reward_rejected=policy[1] - ref[1])
                metrics = {**pair_metrics("", policy[0] - ref[0], policy[1] - ref[1]), **metrics}
            out.append([self._item(doc, details, metrics)])
        return out

    def _item(self, doc: dict[str, Any], details: dict[str, Any], metrics: dict[str, float]) -> ItemScore:
        reward = "score" if self.is_reward_model else ("implicit" if self.reference is not None else None)
        extra = {"reference": self.reference.spec} if self.reference is not None else {}
        return ItemScore("none", [details.get("reward_chosen"), details.get("reward_rejected")], metrics,
                         {"subset": doc.get("subset"), "reward": reward, **extra, **details})

    def aggregate(self, filter_name: str, scores: Sequence[ItemScore]) -> dict[str, Aggregate]:
        return aggregate_pairs(scores, self.higher_is_better)
