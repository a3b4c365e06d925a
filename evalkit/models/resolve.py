"""``--model`` → :class:`ModelRef`: what it is, where its files are, and its fingerprint.

Resolution is cheap (no weights are loaded), so a fully cached rerun never loads the model.

Kinds: ``hf`` (a causal-LM checkpoint folder), ``peft`` (a causal-LM adapter on its base), ``reward`` (a
reward model: a checkpoint whose ``config.json`` names a ``*ForSequenceClassification`` architecture, or
a PEFT adapter with ``task_type: SEQ_CLS``, then with its base) and ``openai`` (an endpoint). The kind
decides the backend, and so which requests the model answers (:mod:`evalkit.engine.backend`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from evalkit.errors import UserError
from evalkit.models.aliases import ALIASES
from evalkit.models.fingerprint import folder_fingerprint, text_fingerprint
from evalkit.models.gguf import convert_gguf

ModelKind = Literal["hf", "peft", "reward", "openai"]


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: enough to fingerprint, record and later load it."""

    spec: str  # what the user typed
    name: str  # a short display name
    kind: ModelKind
    fingerprint: str
    path: Path | None = None  # checkpoint folder (hf, reward) or adapter folder (peft, reward with a base)
    base: ModelRef | None = None  # the base model of a PEFT adapter (peft, or a reward adapter)
    parent_fingerprint: str | None = None  # lineage: the model this one was derived from
    base_url: str | None = None  # openai endpoint
    api_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokenizer_path(self) -> Path:
        """The folder whose tokenizer (and chat template) the model is run with: a PEFT adapter's
        own when it ships one (training may add tokens or a template), else its base's."""
        if self.base is not None:
            assert self.path is not None and self.base is not None and self.base.path is not None
            return self.path if (self.path / "tokenizer_config.json").is_file() else self.base.path
        if self.path is None:
            raise ValueError(f"model {self.spec}: an endpoint has no local tokenizer")
        return self.path

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"spec": self.spec, "kind": self.kind, **self.extra}
        if self.base is not None:
            meta["base"] = self.base.spec
        if self.base_url:
            meta.update(base_url=self.base_url, api_model=self.api_model)
        if self.kind in ("hf", "reward") and self.base is None and self.path is not None:
            from evalkit.models.parameters import count_parameters

            # lm-eval's key, so imported and evaluated models read the same (the leaderboard shows it)
            meta["model_num_parameters"] = count_parameters(self.path)
        return meta


def resolve_model(spec: str) -> ModelRef:
    """Resolve a model spec (see the README's "Models" section for the accepted forms)."""
    if spec.startswith("openai:"):
        return _openai(spec)
    if spec in ALIASES:
        alias = ALIASES[spec]
        folder = convert_gguf(alias.locate())
        return ModelRef(spec, spec, "hf", folder_fingerprint(folder), folder,
                        extra={"alias": spec, "package": alias.package})
    path = Path(spec).expanduser()
    if path.exists():
        return _local(spec, path)
    if _looks_like_hub_id(spec):
        return _local(spec, _hub_snapshot(spec), name=spec)
    known = ", ".join(ALIASES)
    raise UserError(f"--model {spec!r}: no such file or folder, not a built-in alias ({known}), "
                    "not a hub id (owner/name) and not openai:<base_url>#<model>")


def _local(spec: str, path: Path, name: str | None = None) -> ModelRef:
    name = name or path.name.removesuffix(".gguf") or spec
    if path.is_file():
        if path.suffix != ".gguf":
            raise UserError(f"--model {spec!r}: a model file must be a .gguf; otherwise pass a checkpoint folder")
        folder = convert_gguf(path)
        return ModelRef(spec, name, "hf", folder_fingerprint(folder), folder, extra={"gguf": str(path.resolve())})
    if (path / "adapter_config.json").is_file():
        return _peft(spec, path, name)
    if (path / "config.json").is_file():
        kind: ModelKind = "reward" if _is_sequence_classifier(path / "config.json") else "hf"
        return ModelRef(spec, name, kind, folder_fingerprint(path), path.resolve())
    raise UserError(f"--model {spec!r}: folder has neither config.json (a checkpoint) "
                    "nor adapter_config.json (a PEFT adapter)")


def _peft(spec: str, path: Path, name: str) -> ModelRef:
    try:
        adapter = json.loads((path / "adapter_config.json").read_text())
        base_spec = adapter["base_model_name_or_path"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path / 'adapter_config.json'}: cannot read base_model_name_or_path ({exc})") from None
    # A SEQ_CLS adapter carries a reward model's score head (modules_to_save): its base, a causal LM or a
    # classifier, is loaded for sequence classification under it.
    reward = adapter.get("task_type") == "SEQ_CLS"
    base = resolve_model(str(base_spec))
    if base.kind not in (("hf", "reward") if reward else ("hf",)) or base.base is not None:
        raise UserError(f"{path}: the adapter's base {base_spec!r} must be a local or hub checkpoint")
    # The same formula for both kinds: a fingerprint does not move when a kind is told apart.
    fingerprint = text_fingerprint("peft", folder_fingerprint(path), base.fingerprint)
    return ModelRef(spec, name, "reward" if reward else "peft", fingerprint, path.resolve(), base=base,
                    parent_fingerprint=base.fingerprint)


def _is_sequence_classifier(config_file: Path) -> bool:
    """Whether a checkpoint's ``config.json`` names a ``*ForSequenceClassification`` architecture."""
    try:
        architectures = json.loads(config_file.read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(f"{config_file}: not readable JSON ({exc})") from None
    return any(str(a).endswith("ForSequenceClassification") for a in architectures)


def _openai(spec: str) -> ModelRef:
    body = spec.removeprefix("openai:")
    base_url, sep, model = body.rpartition("#")
    url = urlparse(base_url)
    # Checked here, before the run is recorded: a malformed URL would only fail at the first request.
    if not sep or not model or url.scheme not in ("http", "https") or not url.netloc:
        raise UserError(f"--model {spec!r}: expected openai:<base_url>#<model> with an http(s) base_url, "
                        "e.g. openai:http://127.0.0.1:8000/v1#my-model")
    # The weights behind an endpoint are invisible to us: the fingerprint covers what we can see.
    return ModelRef(spec, model, "openai", text_fingerprint("openai", base_url, model), base_url=base_url,
                    api_model=model)


def _looks_like_hub_id(spec: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", spec) is not None


def _hub_snapshot(repo_id: str) -> Path:
    """A local snapshot of a hub model: downloaded when online, else from the HF cache."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    from evalkit.config import current_environment  # HF_HUB_OFFLINE, read once at the CLI edge

    offline = current_environment().hf_hub_offline
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=offline))
    except Exception:  # noqa: BLE001 -- a network failure of any kind: fall back to the cache
        try:
            return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
        except Exception:  # noqa: BLE001 -- not cached either: one clear line below
            raise UserError(f"--model {repo_id!r}: not in the local Hugging Face cache and the hub cannot be "
                            "reached; download it where there is internet, or pass a local folder") from None
