"""A judge's agreement with people on LLMFAO, beside GPT-4, GPT-3.5, "longer answer wins" and people themselves.

    .venv/bin/python bench/judge_agreement.py [--judge local:smollm2-135m-instruct] [--limit N] [--no-judge]
        [--data ../shared/data/arena] [--workdir /tmp/evalkit-judge-agreement] [--json PATH]

LLMFAO (``dustalov/llmfao``; ../shared/data/SOURCES.md, "Human pairwise votes") has 2,139 pairs of
answers to 13 prompts by 59 models, 8,931 crowd votes on them (1–5 per pair) and GPT-4's and
GPT-3.5's verdict on every pair (one order each). The run:

1. converts it into evalkit's files in ``--workdir``: ``pairs.jsonl`` (``id``, ``question_id`` = the
   prompt id, ``question``, ``model_a`` = model_x's name, ``answer_a``, ``model_b``, ``answer_b``),
   ``votes.jsonl`` (``question_id``, ``model_a``, ``model_b``, ``winner`` in model_a/model_b/tie,
   ``annotator`` = the worker id), ``gpt4.jsonl`` and ``gpt35.jsonl`` (the GPT verdicts as votes);
   LLMFAO's ``left`` is model_x, so ``left``/``right``/``tie`` become model_a/model_b/tie;
2. unless ``--no-judge``, runs ``evalkit judge --pairs ... --votes ... --reference-votes gpt4=...
   --reference-votes gpt35=... --judge JUDGE`` on those files and reads the judge's row from its
   ``summary.json`` (``agreement.judge``);
3. computes the reference rows with :func:`evalkit.judge.agreement.agreement_report` from the
   converted files, on the same first ``--limit`` pairs: GPT-4, GPT-3.5, "longer answer wins" (the
   answer with more characters; equal lengths a tie), and people (``human_human``: each vote against
   the other votes on its pair, the ceiling a judge can reach).

Columns (definitions in evalkit/judge/agreement.py): agreement per vote (ties count), per vote
without ties, with the majority vote, leave-one-out, position consistency and first-position rate
(judges shown both orders only), and Kendall τ-b and Spearman ρ between Bradley–Terry ratings from
the judge and from people; under each value its 95% bootstrap interval (low–high).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.judge.agreement import HumanVote, JudgedPair, agreement_report

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "arena"
WORKDIR = Path(tempfile.gettempdir()) / "evalkit-judge-agreement"
SIDES = {"left": "model_a", "right": "model_b", "tie": "tie"}  # LLMFAO's left is model_x, shown as A
REFERENCES = {"gpt4": "llmfao_gpt4-crowd-comparisons.csv", "gpt35": "llmfao_gpt3-crowd-comparisons.csv"}
COLUMNS = (("per_vote", "per vote"), ("per_vote_non_tie", "non-tie"), ("majority", "majority"),
           ("leave_one_out", "leave-one-out"), ("position_consistency", "pos. consist."),
           ("first_position_rate", "first pos."), ("kendall_tau", "Kendall τ"), ("spearman", "Spearman"))


def _write_jsonl(path: Path, rows: Iterable[dict[str, str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def convert(data: Path, workdir: Path) -> dict[str, int]:
    """LLMFAO in ``data`` as evalkit's pairs, votes and reference-verdict files in ``workdir``; rows written per file.

    Checks on the way that every vote's and verdict's pair id, prompt and models are those of its pair.
    """
    names = {row["id"]: row["name"] for row in _read_jsonl(data / "llmfao_models.jsonl")}
    pairs = _read_jsonl(data / "llmfao_pairs-crowd.jsonl")
    by_id = {str(p["id"]): p for p in pairs}
    workdir.mkdir(parents=True, exist_ok=True)
    written = {"pairs.jsonl": _write_jsonl(workdir / "pairs.jsonl", (
        {"id": str(p["id"]), "question_id": str(p["prompt"]), "question": p["text"],
         "model_a": names[p["model_x"]], "answer_a": p["result_x"],
         "model_b": names[p["model_y"]], "answer_b": p["result_y"]} for p in pairs))}

    def as_votes(file: str, annotator: str | None) -> Iterable[dict[str, str]]:
        with (data / file).open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                pair = by_id.get(row["id"])
                a, b = names.get(int(row["model_x"])), names.get(int(row["model_y"]))
                if (pair is None or row["prompt"] != str(pair["prompt"]) or a != names[pair["model_x"]]
                        or b != names[pair["model_y"]] or (row["left"], row["right"]) != (a, b)):
                    raise SystemExit(f"{data / file}:{line}: id {row['id']}: not the pair of llmfao_pairs-crowd.jsonl")
                yield {"question_id": row["prompt"], "model_a": a, "model_b": b, "winner": SIDES[row["winner"]],
                       "annotator": row["worker"] if annotator is None else annotator}

    written["votes.jsonl"] = _write_jsonl(workdir / "votes.jsonl", as_votes("llmfao_crowd_comparisons.csv", None))
    for name, file in REFERENCES.items():
        written[f"{name}.jsonl"] = _write_jsonl(workdir / f"{name}.jsonl", as_votes(file, name))
    return written


def _votes(path: Path) -> list[HumanVote]:
    return [HumanVote(r["question_id"], r["model_a"], r["model_b"], r["winner"], r.get("annotator"))
            for r in _read_jsonl(path)]


def reference_reports(workdir: Path, limit: int | None, bootstrap: int, rating_bootstrap: int,
                      seed: int) -> dict[str, dict[str, Any]]:
    """GPT-4's, GPT-3.5's and "longer answer wins"' agreement reports on the first ``limit`` pairs of the
    converted files (all of them for ``None``)."""
    pairs = _read_jsonl(workdir / "pairs.jsonl")[:limit]
    votes = _votes(workdir / "votes.jsonl")
    keys = {(p["question_id"], frozenset((p["model_a"], p["model_b"]))) for p in pairs}
    judges: dict[str, list[JudgedPair]] = {}
    for name in REFERENCES:
        verdicts = _votes(workdir / f"{name}.jsonl")
        judges[name] = [JudgedPair(v.question_id, v.model_a, v.model_b, v.winner) for v in verdicts
                        if (v.question_id, frozenset((v.model_a, v.model_b))) in keys]
    judges["longer"] = [JudgedPair(p["question_id"], p["model_a"], p["model_b"], _longer(p)) for p in pairs]
    return {name: agreement_report(judged, votes, bootstrap=bootstrap, rating_bootstrap=rating_bootstrap, seed=seed)
            for name, judged in judges.items()}


def _longer(pair: dict[str, Any]) -> str:
    a, b = len(pair["answer_a"]), len(pair["answer_b"])
    return "model_a" if a > b else "model_b" if b > a else "tie"


def run_judge(workdir: Path, judge: str, limit: int | None, seed: int, dtype: str, batch_size: int
              ) -> tuple[dict[str, Any], Path]:
    """``evalkit judge`` on the converted files; its summary's ``agreement`` (``judge`` and ``references``)
    and its output folder."""
    output = workdir / f"judge-{time.strftime('%Y%m%d-%H%M%S')}"
    command = [sys.executable, "-m", "evalkit", "judge", "--pairs", str(workdir / "pairs.jsonl"),
               "--votes", str(workdir / "votes.jsonl"),
               *(arg for name in REFERENCES for arg in ("--reference-votes", f"{name}={workdir / f'{name}.jsonl'}")),
               "--judge", judge, "--output", str(output), "--store", str(workdir / "evalkit.db"),
               "--seed", str(seed), "--dtype", dtype, "--batch-size", str(batch_size), "--device", "cpu",
               *(["--limit", str(limit)] if limit else [])]
    log = output.with_name(output.name + ".log")
    print("$ " + " ".join(command) + f"\n  (its table goes to {log}; its progress and errors here)", file=sys.stderr)
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.run(command, cwd=ROOT, stdout=handle)
    if proc.returncode != 0:
        raise SystemExit(f"evalkit judge failed (exit {proc.returncode}; its output: {log})")
    agreement: dict[str, Any] = json.loads((output / "summary.json").read_text(encoding="utf-8"))["agreement"]
    return agreement, output


def weighted_win_report(output: Path, votes_file: Path, bootstrap: int, rating_bootstrap: int, seed: int
                        ) -> dict[str, Any] | None:
    """The same judgments read as "model A wins when its weighted win w > 1/2, B when w < 1/2" (the
    letters' probabilities averaged over both orders, so a judge that always prefers the first position
    still decides): a second row for a judge whose most likely verdicts are all ties. ``None`` for
    judgments without probabilities (the text protocol)."""
    from evalkit.judge.agreement import JudgedPair, agreement_report
    from evalkit.judge.pairs import read_pair_votes

    records = [json.loads(line) for line in (output / "judgments.jsonl").read_text(encoding="utf-8").splitlines()]
    if not records or any("weighted_win" not in r["extra"] for r in records):
        return None
    judged = [JudgedPair(r["question_id"], r["model_a"], r["model_b"],
                         "model_a" if r["extra"]["weighted_win"] > 0.5 else
                         "model_b" if r["extra"]["weighted_win"] < 0.5 else "tie") for r in records]
    return agreement_report(judged, read_pair_votes(votes_file), bootstrap=bootstrap,
                            rating_bootstrap=rating_bootstrap, seed=seed)


def _stat(report: dict[str, Any], key: str) -> dict[str, Any] | None:
    stat: dict[str, Any] | None = report["rank_correlation"][key] if key in ("kendall_tau", "spearman") else report[key]
    return stat


def table_rows(judges: list[tuple[str, dict[str, Any]]], references: dict[str, dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """The printed rows: ``{"name", "pairs", "votes", <column>: stat | None}``; people's row has their own figures."""
    labelled = judges + [("GPT-4", references["gpt4"]), ("GPT-3.5", references["gpt35"]),
                                            ("longer answer wins", references["longer"])]
    rows = [{"name": name, "pairs": r["pairs"], "votes": r["votes"], **{k: _stat(r, k) for k, _ in COLUMNS}}
            for name, r in labelled]
    people = references["gpt4"]
    rows.append({"name": "people (vs each other)", "pairs": people["pairs"], "votes": people["votes"],
                 **{k: people["human_human"].get(k) for k, _ in COLUMNS}})
    return rows


def _cells(stat: dict[str, Any] | None) -> tuple[str, str]:
    if stat is None or stat["value"] is None:
        return "—", ""
    ci = stat["ci"]
    return f"{stat['value']:.3f}", f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else ""


def print_table(rows: list[dict[str, Any]]) -> None:
    width, name_width = 14, max(len(r["name"]) for r in rows) + 1
    print(f"{'':<{name_width}}{'pairs':>6}{'votes':>7}" + "".join(f"{label:>{width}}" for _, label in COLUMNS))
    for row in rows:
        cells = [_cells(row[key]) for key, _ in COLUMNS]
        print(f"{row['name']:<{name_width}}{row['pairs']:>6}{row['votes']:>7}"
              + "".join(f"{value:>{width}}" for value, _ in cells))
        print(f"{'':<{name_width + 13}}" + "".join(f"{ci:>{width}}" for _, ci in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"the LLMFAO folder (default {DATA})")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help=f"where the converted files, the judge's "
                        f"output and store go (default {WORKDIR})")
    parser.add_argument("--judge", default="local:smollm2-135m-instruct", help="the judge under test "
                        "(evalkit judge --judge)")
    parser.add_argument("--no-judge", action="store_true", help="only the reference rows: no evalkit judge run")
    # bfloat16: on a CPU with AMX (this project's machines) it scores twice as fast as float32, and a
    # verdict is an argmax over three letters, far above bfloat16's rounding.
    parser.add_argument("--dtype", default="bfloat16", help="the local judge's dtype (default bfloat16)")
    parser.add_argument("--batch-size", type=int, default=8, help="the local judge's batch size")
    parser.add_argument("--limit", type=int, help="only the first N pairs (the judge's and the reference rows)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds of the agreement shares")
    parser.add_argument("--rating-bootstrap", type=int, default=100, help="bootstrap rounds of the rank correlations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also save the table here")
    args = parser.parse_args(argv)
    if not (args.data / "llmfao_pairs-crowd.jsonl").is_file():
        print(f"{args.data}: no LLMFAO files (llmfao_pairs-crowd.jsonl); give --data", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        parser.error("--limit: expected a positive integer")

    started = time.perf_counter()
    written = convert(args.data, args.workdir)
    converted = time.perf_counter()
    print(f"converted {args.data} into {args.workdir}: " + ", ".join(f"{n} {f}" for f, n in written.items())
          + f" ({converted - started:.1f} s)")
    judges: list[tuple[str, dict[str, Any]]] = []
    if not args.no_judge:
        agreement, output = run_judge(args.workdir, args.judge, args.limit, args.seed, args.dtype, args.batch_size)
        judges.append((f"judge {args.judge}", agreement["judge"]))
        weighted = weighted_win_report(output, args.workdir / "votes.jsonl", args.bootstrap, args.rating_bootstrap,
                                       args.seed)
        if weighted is not None:
            judges.append(("  same, weighted win > 1/2", weighted))
    judged = time.perf_counter()
    references = reference_reports(args.workdir, args.limit, args.bootstrap, args.rating_bootstrap, args.seed)
    computed = time.perf_counter()
    if judges:
        # The CLI scores the references on the pairs its judge scored; on the same pairs the numbers must match.
        for name, theirs in agreement.get("references", {}).items():
            ours = references[name]
            if theirs["pairs"] == ours["pairs"] and theirs["per_vote"]["value"] != ours["per_vote"]["value"]:
                print(f"warning: evalkit judge's {name} per_vote {theirs['per_vote']['value']} differs from this "
                      f"script's {ours['per_vote']['value']} on as many pairs", file=sys.stderr)
    rows = table_rows(judges, references)
    print()
    print_table(rows)
    print()
    judge_time = f", evalkit judge {judged - converted:.1f} s" if judges else ""
    print(f"wall time {computed - started:.1f} s (conversion {converted - started:.1f} s{judge_time}, reference rows "
          f"{computed - judged:.1f} s with {args.bootstrap} + {args.rating_bootstrap} bootstrap rounds)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "judge": None if args.no_judge else args.judge,
                                         "limit": args.limit, "bootstrap": args.bootstrap,
                                         "rating_bootstrap": args.rating_bootstrap, "seed": args.seed,
                                         "wall_s": computed - started}, indent=2) + "\n", encoding="utf-8")
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
