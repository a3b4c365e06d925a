"""Reward models on real preference data: trained, untrained, and DPO's implicit reward, on the same held-out pairs.

    .venv/bin/python bench/reward_models.py [--dpo-model runs/demo/dpo-merged] [--workdir runs/reward-bench]

Two reward models, each SmolLM2-135M-Instruct with a LoRA and a new score head, one epoch
(``evalkit train``, ``method: reward``):

- **hh-rlhf harmless**: trained on the first 600 pairs of ``../shared/data/dpo/hh_rlhf_harmless_base_test.pcr.jsonl``
  (among those with no blank text), held out: the next 300;
- **Orca**: trained on 200 pairs of ``../shared/data/dpo/orca_dpo_pairs_validation.pcr.jsonl`` (all but the
  first 84), held out: the first 84 (the pairs ``make demo-pipeline``'s DPO step leaves out too).

Each held-out set is scored (``evalkit run``, evaluator ``reward_accuracy``: RewardBench's accuracy, the
chosen answer scored strictly higher) by: the trained reward model; the same checkpoint untrained (the
score head as seeded, before any step); and the DPO model of ``make demo-pipeline`` through its implicit
reward against its lineage parent (when ``--dpo-model`` exists). One table is printed (and saved with
``--json``). Everything is cached in the run's store, so a rerun only prints.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "dpo"
SETS = {  # name: (file, training rows (start, count), held-out rows (start, count), max_length)
    # Rows are counted among the pairs with three non-blank texts (hh-rlhf has a few blank answers).
    "hh-rlhf harmless": ("hh_rlhf_harmless_base_test.pcr.jsonl", (0, 600), (600, 300), 512),
    # Orca's answers are long: at 1024 tokens TRL leaves out 13 of the 200 (counted in the training log).
    "Orca": ("orca_dpo_pairs_validation.pcr.jsonl", (84, 200), (0, 84), 1024),
}
CONFIG = """method: reward
model: {model}
adapter: lora
lora: {{r: 16, lora_alpha: 32, lora_dropout: 0.05, target_modules: all-linear}}
dataset:
  path: {path}
max_length: {max_length}
seed: 42
trainer:
  num_train_epochs: 1
  learning_rate: 1.0e-4
  per_device_train_batch_size: 2
  lr_scheduler_type: cosine
  warmup_steps: 5
  save_steps: 50
"""
SUITE = """suite: reward_bench
description: reward accuracy on held-out preference pairs
defaults: {{batch_size: 8}}
tasks:
{tasks}"""


def _cli(*args: str, log: Path) -> None:
    command = [sys.executable, "-m", "evalkit", *args]
    print("$ evalkit " + " ".join(args), file=sys.stderr, flush=True)
    with log.open("a", encoding="utf-8") as handle:
        proc = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"evalkit {args[0]} failed (exit {proc.returncode}); its output: {log}")


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-").replace("/", "-")


def split_files(data: Path, workdir: Path) -> dict[str, tuple[Path, Path]]:
    """Each set's training and held-out pairs as their own JSONL files (the rows ``SETS`` names)."""
    out = {}
    for name, (file, (t0, tn), (h0, hn), _) in SETS.items():
        rows = [line for line in (data / file).read_text(encoding="utf-8").splitlines()
                if line.strip() and all(str(json.loads(line).get(k, "")).strip() for k in ("prompt", "chosen",
                                                                                            "rejected"))]
        paths = (workdir / f"train-{_slug(name)}.jsonl", workdir / f"heldout-{_slug(name)}.jsonl")
        for path, chosen in zip(paths, (rows[t0: t0 + tn], rows[h0: h0 + hn]), strict=True):
            path.write_text("\n".join(chosen) + "\n", encoding="utf-8")
        out[name] = paths
    return out


def untrained(model: str, out: Path) -> Path:
    """``model`` loaded for sequence classification with a new one-label head (seed 42, as training seeds
    it), saved: the reward model before any step."""
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evalkit.models.resolve import resolve_model

    ref = resolve_model(model)
    assert ref.path is not None
    tokenizer = AutoTokenizer.from_pretrained(ref.tokenizer_path)
    torch.manual_seed(42)
    net = AutoModelForSequenceClassification.from_pretrained(ref.path, num_labels=1, dtype=torch.float32)
    net.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    net.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def accuracy(results: Path, task: str) -> dict[str, float]:
    """The reward_accuracy metrics of ``task`` in a run's results.json (lm-eval's ``metric,filter`` keys)."""
    block = json.loads(results.read_text(encoding="utf-8"))["results"][task]
    return {key.split(",")[0]: value for key, value in block.items()
            if isinstance(value, float) and "/" not in key.split(",")[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--dpo-model", type=Path, default=ROOT / "runs" / "demo" / "dpo-merged")
    parser.add_argument("--dpo-reference", type=Path, default=ROOT / "runs" / "demo" / "sft-merged",
                        help="the DPO model's reference (what its DPO step started from)")
    parser.add_argument("--dpo-sets", default=",".join(SETS),
                        help=f"the held-out sets the DPO model is scored on (default all: {', '.join(SETS)})")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "reward-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not all((args.data / file).is_file() for file, *_ in SETS.values()):
        print(f"{args.data}: the preference files are missing (see ../shared/data/SOURCES.md)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log, store = work / "evalkit.log", work / "evalkit.db"
    files = split_files(args.data, work)
    tasks = "".join(f"  - name: {_slug(name)}\n    evaluator: reward_accuracy\n"
                    f"    dataset: {{path: json, data_files: {held}}}\n" for name, (_, held) in files.items())
    suite = work / "suite.yaml"
    suite.write_text(SUITE.format(tasks=tasks), encoding="utf-8")
    # The DPO model's suite names its reference: a lineage made before e9c56eb records it relative to the
    # training config's folder, and this bench's store does not hold the demo's lineage.
    dpo_suite = work / "suite-dpo.yaml"
    dpo_suite.write_text(SUITE.format(tasks=tasks.replace(
        "    evaluator: reward_accuracy\n",
        f"    evaluator: reward_accuracy\n    reference: {args.dpo_reference.resolve()}\n")), encoding="utf-8")

    rows: dict[str, dict[str, Any]] = {}
    base = untrained(args.model, work / "untrained")
    for name, (_, (_, select), _, max_length) in SETS.items():
        slug = _slug(name)
        config = work / f"reward-{slug}.yaml"
        config.write_text(CONFIG.format(model=args.model, path=files[name][0], max_length=max_length),
                          encoding="utf-8")
        adapter = work / f"reward-{slug}"
        t0 = time.perf_counter()
        _cli("train", str(config), "--output", str(adapter), "--store", str(store), log=log)
        rows[name] = {"train_pairs": select, "held_out": SETS[name][2][1], "train_s": time.perf_counter() - t0}
    models = {"trained": [work / f"reward-{_slug(n)}" for n in SETS], "untrained": [base]}
    if args.dpo_model.exists():
        models["DPO (implicit)"] = [args.dpo_model]
    for label, folders in models.items():
        for folder in {str(f) for f in folders}:
            # A trained reward model is scored on its own held-out set only (the table has no other cell).
            own = [_slug(n) for n in SETS if label == "trained" and Path(folder).name == f"reward-{_slug(n)}"]
            if label.startswith("DPO"):
                own = [_slug(n.strip()) for n in args.dpo_sets.split(",")]
            only = ["--tasks", ",".join(own)] if own else []
            # The folder names the tasks it holds, so a run with other --dpo-sets is not taken for this one
            # (its answers are in the store's cache: only the missing sets are computed).
            out = work / f"run-{label.split()[0].lower()}-{Path(folder).name}{''.join('-' + t for t in own)}"
            if not (out / "results.json").is_file():
                # The DPO model is Gemma: a batch holds its 262k-word logits for every token of a pair (and
                # its reference's), so it runs two sequences at a time; SmolLM2's score head needs no logits.
                batch = ["--batch-size", "2"] if label.startswith("DPO") else []
                which = dpo_suite if label.startswith("DPO") else suite
                _cli("run", str(which), "--model", folder, "--store", str(store), "--output", str(out), *batch,
                     *only, log=log)
            for name in SETS:
                if label == "trained" and Path(folder).name != f"reward-{_slug(name)}":
                    continue
                if label.startswith("DPO") and name not in [n.strip() for n in args.dpo_sets.split(",")]:
                    continue
                rows[name][label] = accuracy(out / "results.json", _slug(name))
    print(f"\n{'pairs':<18}{'train':>6}{'held out':>9}  " + "".join(f"{label:>24}" for label in models))
    for name, row in rows.items():
        cells = []
        for label in models:
            metrics = row.get(label, {})
            value = metrics.get("accuracy")
            cells.append("—" if value is None else f"{value:.3f} ± {metrics.get('accuracy_stderr', 0.0):.3f}")
        print(f"{name:<18}{row['train_pairs']:>6}{row['held_out']:>9}  " + "".join(f"{c:>24}" for c in cells))
    print(f"\naccuracy: the chosen answer scored strictly higher (RewardBench); ± its standard error. "
          f"Wall time {time.perf_counter() - started:.0f} s (training: "
          + ", ".join(f"{n} {r['train_s']:.0f} s" for n, r in rows.items()) + ")")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
