"""evalkit train's per-step time against TRL called directly, and peak memory of full vs LoRA vs QLoRA.

    .venv/bin/python bench/train_overhead.py [--model smollm2-135m-instruct] [--steps 8] [--max-length 256]
                                             [--methods sft,reward]

Every measurement runs in a fresh child process, one after another, on the same model, rows and
settings:

- ``evalkit``: ``evalkit.harness.trainer.run_training`` with a LoRA config (what ``evalkit train``
  runs after reading its YAML);
- ``trl``: the same model loaded with ``AutoModelForCausalLM``, the same rows, tokenizer and chat
  template, and an ``SFTConfig`` with the same values, passed to TRL's ``SFTTrainer`` directly.

For ``method: reward`` the same pair: ``run_training`` with a LoRA reward config, against the model
loaded with ``AutoModelForSequenceClassification`` (one label, the pad id set), a ``LoraConfig`` with
``task_type="SEQ_CLS"`` and a ``RewardConfig`` with the same values, passed to TRL's ``RewardTrainer``.

A step's time is measured by the same ``TrainerCallback`` on both sides (``on_step_begin`` to
``on_step_end``); the first two steps are warm-up and dropped; the median of the rest is compared.
Target: evalkit's overhead under 5%. Then ``run_training`` with ``adapter: none``, ``lora`` and
``qlora``, each in its own process, reporting the process's peak resident memory (``ru_maxrss``),
which includes the interpreter and libraries (the same for all three). Rows: the first 64
conversations of ``../shared/data/sft/ultrachat_small_1000.jsonl`` (SFT); the first 64 hh-rlhf
harmless pairs of ``../shared/data/dpo/hh_rlhf_harmless_base_test.pcr.jsonl`` (reward: plain text, short
enough that few exceed the length, so both sides train on the same pairs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sft" / "ultrachat_small_1000.jsonl"
PAIRS = ROOT.parent / "shared" / "data" / "dpo" / "hh_rlhf_harmless_base_test.pcr.jsonl"


def _config_text(model: str, adapter: str, steps: int, max_length: int, method: str = "sft") -> str:
    quantization = "quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true}\n" \
        if adapter == "qlora" else ""
    lora = "lora: {r: 16, lora_alpha: 32, lora_dropout: 0.0, target_modules: all-linear}\n" if adapter != "none" else ""
    data = DATA if method == "sft" else PAIRS
    return (f"method: {method}\nmodel: {model}\nadapter: {adapter}\n{lora}{quantization}"
            f"dataset: {{path: {data}, select: 64}}\nmax_length: {max_length}\nseed: 0\n"
            f"trainer: {{max_steps: {steps}, per_device_train_batch_size: 2, learning_rate: 1.0e-4,"
            f" save_strategy: 'no', lr_scheduler_type: constant}}\n")


def child(mode: str, config_path: Path, output: Path) -> dict[str, Any]:
    """One measurement, inside the child process: step times and peak memory."""
    import resource

    from transformers import TrainerCallback

    from evalkit.cli import install_environment
    from evalkit.harness.config import load_train_config
    from evalkit.harness.data import prepare_rows
    from evalkit.harness.model_loading import resolve_starting_model
    from evalkit.harness.templates import resolve_chat_template
    from evalkit.harness.trainer import assistant_only_loss, run_training, trainer_arguments

    install_environment()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._start = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.times.append(time.perf_counter() - self._start)

    config, base_dir = load_train_config(config_path)
    rows = prepare_rows(config, base_dir)
    start = resolve_starting_model(config, base_dir)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(start.ref.tokenizer_path)
    template = resolve_chat_template(config.chat_template, tokenizer, base_dir,
                                     assistant_only_loss=assistant_only_loss(config, rows))
    timer = StepTimer()
    if mode == "evalkit":
        run_training(config, rows=rows, chat_template=template, output=output, base_dir=base_dir, start=start,
                     callbacks=[timer], resume=False)
    else:  # TRL directly: its own model loading, trainer and LoRA, with the values evalkit would use
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
        from trl import RewardTrainer, SFTTrainer

        args = trainer_arguments(config, rows, output=output, max_steps=None, on_cpu=True)
        args.disable_tqdm = True
        tokenizer.chat_template = template
        lora = config.lora
        assert lora is not None
        reward = config.method == "reward"
        peft_config = LoraConfig(r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
                                 target_modules=lora.target_modules, bias=lora.bias,
                                 task_type="SEQ_CLS" if reward else "CAUSAL_LM")
        trainer: Any
        if reward:
            tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
            model = AutoModelForSequenceClassification.from_pretrained(
                str(start.ref.path), num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype="float32")
            trainer = RewardTrainer(model, args=args, train_dataset=rows.train, processing_class=tokenizer,
                                    peft_config=peft_config, callbacks=[timer])
        else:
            model = AutoModelForCausalLM.from_pretrained(str(start.ref.path), dtype="float32")
            trainer = SFTTrainer(model, args=args, train_dataset=rows.train, processing_class=tokenizer,
                                 peft_config=peft_config, callbacks=[timer])
        trainer.train()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "step_s": timer.times, "peak_mb": peak_mb}


def _run_child(mode: str, config_text: str, work: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(dir=work))
    config = folder / "config.yaml"
    config.write_text(config_text)
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(config), str(folder / "out")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: the child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--methods", default="sft,reward", help="comma-separated: sft, reward")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CONFIG", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, config, output = args.child
        print(json.dumps(child(mode, Path(config), Path(output))))
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for needed in [DATA] + ([PAIRS] if "reward" in methods else []):
        if not needed.is_file():
            raise SystemExit(f"bench/train_overhead.py needs {needed} (the shared data beside the checkout)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for method in methods:
            lora_text = _config_text(args.model, "lora", args.steps, args.max_length, method)
            timed = {mode: _run_child(mode, lora_text, work) for mode in ("trl", "evalkit")}
            medians = {mode: statistics.median(r["step_s"][2:]) for mode, r in timed.items()}
            overhead = medians["evalkit"] / medians["trl"] - 1
            trainer = {"sft": "SFTTrainer", "reward": "RewardTrainer"}[method]
            print(f"{method}: per-step time, {args.model}, LoRA, batch 2, {args.max_length} tokens, median of steps "
                  f"3-{args.steps}:")
            print(f"  TRL's {trainer} directly {medians['trl']:.3f} s   evalkit {medians['evalkit']:.3f} s   "
                  f"overhead {overhead:+.1%}  (target < +5%)")
        if "sft" not in methods:
            return
        print("peak memory of the training process (ru_maxrss, same model and rows):")
        for adapter in ("none", "lora", "qlora"):
            result = _run_child("evalkit", _config_text(args.model, adapter, 3, args.max_length), work)
            print(f"  {adapter:5} {result['peak_mb']:8.0f} MiB")


if __name__ == "__main__":
    main()
