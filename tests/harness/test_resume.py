"""A run killed with SIGKILL resumes from its last checkpoint and ends with the adapter of an uninterrupted run.

Both runs are real processes (tests/harness/train_script.py): LoRA SFT on a tiny random Llama, seeded,
with LoRA dropout on, so the resumed run only matches if the RNG state came back with the checkpoint; and a
LoRA reward model, whose resumed adapter must hold the same trained score head.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from evalkit.harness.checkpoints import complete_checkpoints
from evalkit.models.fingerprint import folder_fingerprint
from tests.conftest import REPO

SCRIPT = REPO / "tests" / "harness" / "train_script.py"
STEPS = 5


def _train(model: Path, output: Path, *extra: str, timeout: float = 180, hash_seed: str = "0") -> str:
    # A fixed hash seed per call: the rerun below uses another, as two real invocations would.
    done = subprocess.run([sys.executable, str(SCRIPT), str(model), str(output), str(STEPS), *extra],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONHASHSEED": hash_seed})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("method", ["sft", "reward"])
def test_sigkilled_run_resumes_to_the_same_adapter(method: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    reference = tmp_path / "uninterrupted"
    assert "resumed_from=-" in _train(tiny_model_dir, reference, "--method", method)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tiny_model_dir), str(killed), str(STEPS),
                             "--stall-after", "2", "--method", method], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while not any(c.name == "checkpoint-2" for c in complete_checkpoints(killed)):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint-2 within 120 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (killed / "adapter_model.safetensors").exists()  # killed before the final save

    assert "steps=5 resumed_from=checkpoint-2" in _train(tiny_model_dir, killed, "--method", method)

    expected = load_file(reference / "adapter_model.safetensors")
    resumed = load_file(killed / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys() and expected
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=1e-6, msg=name)
    # and training moved the adapter at all (LoRA's B starts at zero)
    assert any(t.abs().sum() > 0 for n, t in resumed.items() if "lora_B" in n)
    if method == "reward":  # the trained score head is part of what resumed
        assert any(n.endswith("score.weight") for n in resumed)


def test_rerun_of_a_finished_training_keeps_the_adapters_fingerprint(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Rerunning ``evalkit train`` on a finished output resumes at its last step and saves again: the same
    adapter, so the same fingerprint, so its cached answers still apply (PEFT writes target_modules in
    hash order; a rerun in a process with another hash seed used to change adapter_config.json)."""
    output = tmp_path / "adapter"
    _train(tiny_model_dir, output, "--method", "reward", hash_seed="0")
    first = folder_fingerprint(output)
    assert f"steps={STEPS} resumed_from=checkpoint-{STEPS}" in _train(
        tiny_model_dir, output, "--method", "reward", hash_seed="1")
    assert folder_fingerprint(output) == first
