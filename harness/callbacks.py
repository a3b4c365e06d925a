"""What a training run shows and keeps: a progress bar (loss, learning rate, ETA) and the loss curve.

The bar replaces transformers' own (``disable_tqdm``) so that evalkit's progress setting
(``EVALKIT_PROGRESS``) governs it like every other bar. The loss curve is read from the trainer's
``log_history``, which transformers saves in every checkpoint and restores on resume, so a resumed run
keeps the steps it made before it was killed.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


class TrainingAlreadyFinished(Exception):
    """Raised by :class:`StopWhenResumedAtTheEnd` once the checkpoint is loaded: there is no step left."""


class StopWhenResumedAtTheEnd(TrainerCallback):
    """Ends a run resumed from a checkpoint that already reached ``max_steps``, before any step.

    transformers (5.24) takes one more optimizer step in that case when ``max_steps`` ends inside an epoch:
    its loop checks the step count only after a step. A rerun of a finished training would then train
    step N+1 and save a different model. ``on_train_begin`` comes after the checkpoint's weights and
    state are loaded, so the caller can save them as they are.
    """

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            raise TrainingAlreadyFinished


class ProgressBarCallback(TrainerCallback):
    """One tqdm bar over the optimizer steps, on the main process only, with the last loss and rate."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from evalkit.progress import progress_bar

        self.bar = progress_bar(None, desc=self.desc, total=state.max_steps)
        if not self.bar.disable:  # a disabled bar has no format
            self.bar.bar_format += "{postfix}"  # evalkit's bar plus the last loss and learning rate
        self.bar.update(state.global_step)  # a resumed run starts where its checkpoint left off

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0.0):.2e}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """``[{"step", "loss", "learning_rate"}, ...]`` from a trainer's ``log_history`` (training logs only;
    evaluation and the closing summary carry no ``loss`` key)."""
    return [{"step": int(e["step"]), "loss": float(e["loss"]), "learning_rate": float(e.get("learning_rate", 0.0))}
            for e in log_history if "loss" in e and "step" in e]
