"""Parameter counts from safetensors headers equal what transformers counts on the loaded model."""

from __future__ import annotations

from pathlib import Path

from evalkit.models.parameters import count_parameters
from evalkit.models.resolve import resolve_model


def test_count_matches_the_loaded_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert count_parameters(tiny_model_dir) == model.num_parameters()
    assert resolve_model(str(tiny_model_dir)).metadata()["model_num_parameters"] == model.num_parameters()
    assert count_parameters(tmp_path) is None
    (tmp_path / "broken.safetensors").write_bytes(b"\x05")
    assert count_parameters(tmp_path) is None
