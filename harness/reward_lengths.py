"""Token lengths as TRL sees them, from the tokenizer alone: which rows ``max_length`` drops or truncates.

- ``reward``: TRL's ``RewardTrainer`` leaves out every pair whose chosen or rejected sequence (prompt +
  answer, the chat template over the messages for conversational rows, EOS appended to plain text) is
  longer than ``max_length``. :func:`pairs_over_length` counts them by running TRL's own preprocessing
  (``RewardTrainer._prepare_dataset``), so the count is the one training will drop.
- ``sft`` / ``dpo``: TRL truncates (``keep_start``), dropping nothing. :func:`rows_over_length` counts the
  rows it would cut: the whole example for SFT, prompt + chosen or prompt + rejected for DPO, each
  tokenised as TRL's ``_tokenize`` does (the chat template for message lists, the tokenizer for text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasets import Dataset


def pairs_over_length(rows: Dataset, tokenizer: Any, max_length: int) -> int:
    """How many preference pairs of ``rows`` TRL's RewardTrainer would leave out at ``max_length``."""
    import warnings

    import datasets
    from trl import RewardConfig, RewardTrainer

    datasets.disable_progress_bars()  # a report line says what the maps found
    with warnings.catch_warnings():  # transformers' deprecation notes on fields this config never uses
        warnings.simplefilter("ignore", FutureWarning)
        # Only what _prepare_dataset reads: max_length and dataset_num_proc (a CPU config: no device is touched).
        args = RewardConfig(output_dir="unused-by-check", max_length=max_length, use_cpu=True, bf16=False,
                            report_to="none", disable_tqdm=True)
    # _prepare_dataset uses nothing of the trainer instance; calling it unbound runs TRL's exact tokenisation
    # and length filter without a model.
    kept = RewardTrainer._prepare_dataset(None, rows, tokenizer, args, "check")  # type: ignore[arg-type]
    return len(rows) - len(kept)


def rows_over_length(rows: Dataset, row_format: str, tokenizer: Any, max_length: int) -> int:
    """How many SFT or DPO rows are longer than ``max_length`` tokens (TRL truncates them)."""
    from trl.data_utils import _tokenize

    def length(value: Any) -> int:
        return len(_tokenize(tokenizer, value)["input_ids"])

    over = 0
    for row in rows:
        if row_format == "messages":
            lengths = [length(row["messages"])]
        elif row_format == "text":
            lengths = [length(row["text"])]
        elif row_format == "prompt_completion":
            lengths = [length(row["prompt"] + row["completion"])]
        else:  # preference: DPO cuts prompt + answer as one sequence
            lengths = [length(row["prompt"] + row["chosen"]), length(row["prompt"] + row["rejected"])]
        over += max(lengths) > max_length
    return over
