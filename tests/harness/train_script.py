"""A training run in its own process, for the tests that must kill one or launch several (resume, accelerate).

``python tests/harness/train_script.py MODEL_DIR OUTPUT STEPS [--stall-after K] [--method reward]``: LoRA SFT
on a few conversations (or a LoRA reward model on toy preference pairs), seeded, a checkpoint every step.
``--stall-after K`` sleeps after checkpoint K is complete, so a test can SIGKILL the run at a known point.
Prints ``steps=N resumed_from=NAME processes=P`` at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from transformers import TrainerCallback  # noqa: E402 -- after the path is set

# The same ChatML as SmolLM2's own template, with the {% generation %} markers assistant_only_loss needs.
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
          "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
          "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def conversations(n: int = 8) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"It is {2 * i}."}]} for i in range(n)]


class _Stall(TrainerCallback):
    """Sleep once checkpoint ``after`` is written (``on_save`` runs after trainer_state.json)."""

    def __init__(self, after: int) -> None:
        self.after = after

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= self.after:
            time.sleep(300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("steps", type=int)
    parser.add_argument("--stall-after", type=int)
    parser.add_argument("--save-steps", type=int, default=1)
    parser.add_argument("--method", choices=["sft", "reward"], default="sft")
    args = parser.parse_args()

    from datasets import Dataset

    from evalkit.cli import install_environment
    from evalkit.harness.config import TrainConfig
    from evalkit.harness.data import PreparedRows
    from evalkit.harness.trainer import run_training

    install_environment()
    config = TrainConfig.model_validate({
        "method": args.method, "model": str(args.model), "adapter": "lora", "dataset": {"path": "inline"},
        "max_length": 64, "seed": 7,
        "trainer": {"per_device_train_batch_size": 2, "learning_rate": 5e-3, "gradient_checkpointing": False,
                    "save_steps": args.save_steps, "lr_scheduler_type": "constant"}})
    if args.method == "reward":
        from tests.harness.reward_data import toy_pairs

        rows = PreparedRows(train=Dataset.from_list(toy_pairs(8, seed=0)), eval=None, format="preference",
                            fingerprint="inline", rows=8, conversational=True)
    else:
        rows = PreparedRows(train=Dataset.from_list(conversations()), eval=None, format="messages",
                            fingerprint="inline", rows=8)
    extra = [_Stall(args.stall_after)] if args.stall_after else []
    outcome = run_training(config, rows=rows, chat_template=CHATML, output=args.output, max_steps=args.steps,
                           base_dir=Path.cwd(), callbacks=extra)
    if outcome.is_main_process:
        resumed = outcome.resumed_from.name if outcome.resumed_from else "-"
        print(f"steps={outcome.steps} resumed_from={resumed} processes={outcome.processes}", flush=True)


if __name__ == "__main__":
    main()
