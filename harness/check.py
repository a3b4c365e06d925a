"""``evalkit train --check CONFIG``: a config and its data validated without loading weights or writing a file.

What is checked, in order (the first problem is one :class:`~evalkit.errors.UserError` line, exit 2):

1. the config itself (``file:line:col: field: message``, as ``evalkit train`` reports it);
2. the starting model and, for grpo/rloo, the reward model, from their JSON files only: a folder, a
   converted alias or a hub id in the local cache. A model that is not there yet (the output of an
   earlier pipeline step) or a hub id not cached is reported as not checked, never fetched;
3. the rows, prepared exactly as ``evalkit train`` prepares them (columns, formats, filter, select, eval
   split), unless they are a hub dataset with no local mirror: then "data not checked";
4. with the model's tokenizer at hand, the chat template (as training resolves it) and the token lengths
   TRL sees: for ``reward``, the pairs ``RewardTrainer`` would leave out as longer than ``max_length``
   (counted by TRL's own preprocessing); for ``sft``/``dpo``, the rows TRL would truncate;
5. for a reward LoRA, that the model's head is one PEFT trains whole (built on the meta device: no weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UserError

if TYPE_CHECKING:
    from evalkit.harness.config import TrainConfig
    from evalkit.harness.data import PreparedRows

_TOKENIZER_FILES = ["*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


@dataclass
class CheckReport:
    """What ``--check`` found: one line per finding, in the order checked."""

    config: Path
    lines: list[str] = field(default_factory=list)
    rows: PreparedRows | None = None
    too_long: int | None = None  # reward: pairs TRL would drop; sft/dpo: rows TRL would truncate
    data_checked: bool = False
    model_checked: bool = False

    def add(self, text: str) -> None:
        self.lines.append(text)

    def render(self) -> str:
        return "\n".join([f"{self.config}: ok", *(f"  {line}" for line in self.lines)])


def check_config(path: Path, data_root: Path | None = None) -> CheckReport:
    """Validate the training config at ``path`` and its data (see the module docstring)."""
    from evalkit.harness.config import load_train_config
    from evalkit.harness.data import is_hub_dataset, mirror_folder, prepare_rows

    config, base_dir = load_train_config(path)
    report = CheckReport(path)
    report.add(f"method {config.method}, adapter {config.adapter}, model {config.model}")
    tokenizer_folder = _model_folder(config, base_dir, report)
    if config.reward_model is not None:
        _check_reward_model(config, base_dir, report)

    spec = config.dataset
    if is_hub_dataset(spec, base_dir) and mirror_folder(spec, base_dir, data_root) is None:
        where = "no --data-root" if data_root is None else f"not in the mirror {data_root}"
        report.add(f"data not checked: hub dataset {spec.path}, {where}")
    else:
        report.rows = prepare_rows(config, base_dir, data_root)
        report.data_checked = True
        report.add(_rows_line(report.rows, config.dataset.skip))

    if tokenizer_folder is None:
        return report
    tokenizer = _tokenizer(tokenizer_folder)
    own = tokenizer.chat_template
    template = _template(config, report.rows, tokenizer, base_dir)
    if config.chat_template is not None:
        report.add(f"chat template: {config.chat_template}")
    else:
        report.add("chat template: the model's own" + ("" if template == own else " (as evalkit's shipped "
                                                       "equivalent with {% generation %} markers)"))
    if report.rows is not None and config.method in ("sft", "dpo", "reward"):
        tokenizer.chat_template = template
        _lengths(config, report.rows, tokenizer, report)
    return report


# --- models, from their files ---------------------------------------------------------------------------

def _model_folder(config: TrainConfig, base_dir: Path, report: CheckReport) -> Path | None:
    """The folder holding the starting model's tokenizer, found without converting or downloading; None
    (with a line saying why) when it is not at hand."""
    from evalkit.models.aliases import ALIASES

    local = (base_dir / config.model).expanduser()
    if config.model in ALIASES:
        folder = _converted_alias(config.model)
        if folder is None:
            report.add(f"model not checked: alias {config.model} is not converted yet (the first `evalkit run` "
                       "or `evalkit train` converts it); template and lengths not checked")
        return _checked_model(config, folder, report) if folder else None
    if local.exists():
        return _checked_model(config, local, report)
    if "/" in config.model and not config.model.startswith((".", "/", "~")) and config.model.count("/") == 1:
        folder = _cached_hub_model(config.model)
        if folder is None:
            report.add(f"model not checked: {config.model} is not a folder here ({local.resolve()}, an earlier "
                       "step's output?) nor a hub model in the local cache; template and lengths not checked")
            return None
        return _checked_model(config, folder, report)
    report.add(f"model not checked: {local.resolve()} does not exist yet (an earlier step's output?); template "
               "and lengths not checked")
    return None


def _checked_model(config: TrainConfig, folder: Path, report: CheckReport) -> Path:
    import json

    if (folder / "adapter_config.json").is_file():
        if config.adapter != "none" or config.method == "reward":
            what = "the reward model" if config.method == "reward" else f"the new {config.adapter}"
            raise config.error_at("model", f"{config.model!r} is a PEFT adapter: merge it first (evalkit merge "
                                           f"--adapter {config.model} --out DIR), then train {what} on model: DIR")
        base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
        report.model_checked = True
        report.add(f"model: a PEFT adapter on {base} (merged in memory for full fine-tuning)")
        return folder if (folder / "tokenizer_config.json").is_file() else Path(str(base))
    if not (folder / "config.json").is_file():
        raise config.error_at("model", f"{folder} has neither config.json (a checkpoint) nor adapter_config.json "
                                       "(a PEFT adapter)")
    report.model_checked = True
    if config.method == "reward" and config.adapter != "none":
        _check_head(config, folder)
    return folder


def _check_head(config: TrainConfig, folder: Path) -> None:
    """The reward head a LoRA would train, from the architecture alone (the model built on the meta device)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from evalkit.harness.config import SCORE_HEAD_NAMES
    from evalkit.harness.model_loading import score_head_name

    model_config = AutoConfig.from_pretrained(folder, num_labels=1)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(model_config)
    head = score_head_name(model)
    if head not in SCORE_HEAD_NAMES:
        raise config.error_at("adapter", f"{config.model}: with a LoRA, PEFT trains the reward head whole only when "
                                         f"it is named {' or '.join(SCORE_HEAD_NAMES)}, and its output layer is "
                                         f"{head!r}, which would stay random; use adapter: none")


def _check_reward_model(config: TrainConfig, base_dir: Path, report: CheckReport) -> None:
    from evalkit.harness.reward_model import reward_checkpoint_kind

    assert config.reward_model is not None
    folder = (base_dir / config.reward_model).expanduser()
    if not folder.exists():
        report.add(f"reward model not checked: {folder.resolve()} does not exist yet (an earlier step's output?)")
        return
    try:
        kind = reward_checkpoint_kind(folder)
    except UserError as exc:
        raise config.error_at("reward_model", str(exc)) from None
    report.add(f"reward model: {'a SEQ_CLS adapter' if kind == 'adapter' else 'a sequence-classification checkpoint'}")


def _converted_alias(name: str) -> Path | None:
    from evalkit.models.aliases import ALIASES
    from evalkit.models.cache import cache_dir

    stem = ALIASES[name].gguf_stem
    root = cache_dir() / "gguf"
    found = sorted(d for d in root.glob(f"{stem}-*") if (d / "config.json").is_file()) if root.is_dir() else []
    return found[0] if found else None


def _cached_hub_model(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_TOKENIZER_FILES, local_files_only=True))
    except Exception:  # noqa: BLE001 -- not cached, in any of the ways the hub client says so
        return None


def _tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


# --- template and lengths -------------------------------------------------------------------------------

def _template(config: TrainConfig, rows: PreparedRows | None, tokenizer: Any, base_dir: Path) -> str:
    from evalkit.harness.templates import resolve_chat_template
    from evalkit.harness.trainer import assistant_only_loss

    only_assistant = rows is not None and assistant_only_loss(config, rows)
    return resolve_chat_template(config.chat_template, tokenizer, base_dir, assistant_only_loss=only_assistant,
                                 error=config.error_at)


def _rows_line(rows: PreparedRows, skip: int | None) -> str:
    kind = "conversational" if rows.conversational else "text"
    held = f", {len(rows.eval)} held out for eval" if rows.eval is not None else ""
    skipped = f", the first {skip} left out (skip)" if skip else ""
    return (f"rows: {rows.read_rows} read, {rows.filtered_out} dropped by filter{skipped}, {rows.rows} to train on"
            f"{held} ({rows.format}, {kind})")


def _lengths(config: TrainConfig, rows: PreparedRows, tokenizer: Any, report: CheckReport) -> None:
    from evalkit.harness.config import trainer_config_class

    limit = config.max_length
    if limit is None:  # TRL's own default for the method
        limit = next(f.default for f in _fields(trainer_config_class(config.method)) if f.name == "max_length")
    if limit is None:
        report.add("lengths: no max_length (nothing truncated or dropped)")
        return
    if config.method == "reward":
        from evalkit.harness.reward_lengths import pairs_over_length

        report.too_long = pairs_over_length(rows.train, tokenizer, limit)
        if report.too_long == rows.rows:
            raise config.error_at("max_length", f"every one of the {rows.rows} training pairs is longer than "
                                                f"max_length ({limit} tokens, chosen or rejected): TRL's "
                                                "RewardTrainer would leave them all out")
        report.add(f"by length: {report.too_long} of {rows.rows} pairs longer than {limit} tokens (chosen or "
                   f"rejected), left out by TRL's RewardTrainer; {rows.rows - report.too_long} train")
        return
    from evalkit.harness.reward_lengths import rows_over_length

    report.too_long = rows_over_length(rows.train, rows.format, tokenizer, limit)
    report.add(f"by length: none dropped; {report.too_long} of {rows.rows} rows longer than {limit} tokens, "
               "which TRL truncates (keep_start)")


def _fields(cls: type) -> tuple[Any, ...]:
    import dataclasses

    return dataclasses.fields(cls)
