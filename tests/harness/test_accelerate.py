"""Data-parallel training through accelerate: two CPU processes (DDP over gloo) train a LoRA on a tiny
model; the main process alone saves, and the saved adapter loads with PEFT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import REPO

SCRIPT = REPO / "tests" / "harness" / "train_script.py"


def test_two_cpu_processes_train_and_save_a_loadable_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    output = tmp_path / "ddp"
    # `--multi_gpu` is accelerate's torchrun launcher; without CUDA each rank runs on the CPU over gloo.
    # (`--cpu --num_processes 2` starts a single process: accelerate's multi-CPU path needs mpirun.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    done = subprocess.run([*launch, str(SCRIPT), str(tiny_model_dir), str(output), "3", "--save-steps", "100"],
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})  # CPU ranks, as in CI
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("steps=") == 1  # only the main process reports
    assert "steps=3 resumed_from=- processes=2" in done.stdout

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, output)
    trained = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert trained and any(p.abs().sum() > 0 for p in trained.values())
