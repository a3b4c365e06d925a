"""The leaderboard's test stores: one filled by real evalkit runs of the tiny model, and an empty one.

``seeded_store`` (session-scoped, ~2 minutes) runs evalkit as a user would, each command in its own
process: ``evalkit train`` (LoRA SFT with a real loss curve) and ``evalkit merge``, then DPO and merge
again (lineage base → SFT → DPO); ``evalkit run`` of a small suite on all three checkpoints (results
and per-sample records, HumanEval with execution verdicts when bubblewrap is installed); an
lm-evaluation-harness results file through ``evalkit results import``; ``evalkit judge`` on three
questions of the shipped set, base vs SFT (verdicts read from probabilities, ``evalkit-judge-v2``) and SFT
vs DPO (the text protocol, ``evalkit-judge-v1``), answers and judgments.

With the text protocol the tiny random judge never writes a readable verdict, so those judgments are all
unscored (the pages show unscored questions); its v2 verdicts are a random model's. To give the
pairwise and ratings pages verdicts to show, ``seed_verdicts`` adds pairwise judgments of a named
fixture judge (``fixture#verdicts``) through ``Store.put_judgments``, built with the judge's own record
functions, and ``seed_votes`` adds human votes through ``Store.add_battle``/``add_vote`` (the arena's
own voting is tested through the UI). Those rows are written through the store's API, not by a model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.store import Store
from tests.conftest import REPO, run_cli, write_jsonl
from tests.harness.train_script import CHATML, conversations

APP = REPO / "leaderboard" / "app.py"
QUESTIONS = REPO / "suites" / "judge" / "questions.yaml"
LM_EVAL_RESULTS = REPO / "tests" / "store" / "fixtures" / "lm_eval_results.json"
FIXTURE_JUDGE = "fixture#verdicts"


@dataclass(frozen=True)
class SeededStore:
    path: Path
    base: str  # model names as runs.model_name, judgments and votes spell them
    sft: str
    dpo: str
    imported: str  # the model of the imported lm-eval results
    suite: str
    tasks: tuple[str, ...]
    judge_models: tuple[str, ...]  # the contestants with stored answers

    @property
    def chain(self) -> tuple[str, str, str]:
        return self.base, self.sft, self.dpo


SUITE = """suite: lb-mini
defaults:
  batch_size: 4
  seed: 1234
  generation: {{max_gen_toks: 8, temperature: 0.0}}
tasks:
  - name: ppl
    evaluator: perplexity
    dataset: {{path: json, data_files: {texts}}}
    text_field: text
  - name: qa
    evaluator: generation_metrics
    dataset: {{path: json, data_files: {qa}}}
    prompt_field: prompt
    references_field: references
    until: ["\\n"]
    metrics: [bleu, rouge]
  - name: mmlu
    task: mmlu_high_school_geography
  - name: humaneval
    evaluator: humaneval
    limit: 2
    generation: {{max_gen_toks: 16}}
"""


def _cli(*args: str, cwd: Path, timeout: float = 900) -> str:
    # EVALKIT_HOME is the seeded folder's: `evalkit train` records lineage in $EVALKIT_HOME/evalkit.db.
    done = run_cli(*args, cwd=cwd, timeout=timeout, env={"EVALKIT_HOME": str(cwd / "home")})
    assert done.returncode == 0, f"evalkit {' '.join(args)} failed:\n{done.stderr[-4000:]}"
    return done.stdout


def _preferences(n: int = 8) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": f"What is {i} plus {i}?"}],
             "chosen": [{"role": "assistant", "content": f"It is {2 * i}."}],
             "rejected": [{"role": "assistant", "content": f"It is {2 * i + 1}."}]} for i in range(n)]


# Project-written questions in MMLU's original layout (question, A, B, C, D, answer letter), so the seeded
# store needs no data from outside the repository; the shipped task file reads them from the --data-root
# mirror that evalkit.parity.mirror converts them into (cais/mmlu/high_school_geography/{dev,test}.jsonl).
GEOGRAPHY = [
    ("Which river flows through Cairo?", "Nile", "Amazon", "Danube", "Mekong", "A"),
    ("Which is the largest ocean?", "Atlantic", "Pacific", "Indian", "Arctic", "B"),
    ("Which continent is Kenya in?", "Asia", "Europe", "Africa", "Oceania", "C"),
    ("Which country has the most people living in it in 2020?", "Brazil", "Russia", "Japan", "China", "D"),
    ("Which line divides the Earth into north and south?", "The equator", "A meridian", "A tropic", "A border", "A"),
    ("What is a delta?", "A mountain", "Land where a river meets the sea", "A desert", "A glacier", "B"),
]


def _write_mmlu(root: Path, mirror: Path) -> None:
    import csv

    from evalkit.parity.mirror import write_mmlu

    for split, rows in (("dev", GEOGRAPHY[:1]), ("test", GEOGRAPHY)):
        (root / split).mkdir(parents=True, exist_ok=True)
        with (root / split / f"high_school_geography_{split}.csv").open("w", newline="") as out:
            csv.writer(out).writerows(rows)
    write_mmlu(root, mirror)


def seed_verdicts(store: Store, models: tuple[str, ...], questions: list[str]) -> None:
    """Pairwise verdicts of the fixture judge for every pair of ``models`` on ``questions``: a fixed,
    varied pattern of swapped-order verdicts (wins both ways, ties, an inconsistent pair, an unscored one)."""
    from evalkit.judge.interfaces import Outcome, PairJudgment, PairVerdict
    from evalkit.judge.records import pair_record

    # (verdict with A shown first, verdict with B shown first) -> A's outcome under the swap rule
    patterns = [("A", "B", Outcome.WIN), ("B", "A", Outcome.LOSS), ("C", "C", Outcome.TIE),
                ("A", "A", Outcome.TIE), ("unscored", "B", Outcome.UNSCORED)]
    records = []
    for i, model_a in enumerate(models):
        for model_b in models[i + 1:]:
            for q, question in enumerate(questions):
                ab, ba, outcome = patterns[(q + i) % len(patterns)] if q % 3 else patterns[0]
                judgment = PairJudgment(
                    question_id=question, model_a=model_a, model_b=model_b, judge=FIXTURE_JUDGE,
                    prompt_version="fixture-1", mode="pairwise", verdict_ab=PairVerdict(ab),
                    verdict_ba=PairVerdict(ba), raw_ab=f"Verdict with {model_a} first: [[{ab}]]",
                    raw_ba=f"Verdict with {model_b} first: [[{ba}]]", outcome=outcome, extra={}, category=None)
                records.append(pair_record(judgment))
    store.put_judgments(records)


def seed_votes(store: Store, models: tuple[str, ...], questions: list[str]) -> None:
    """Human votes on every pair of ``models`` and question, both screen orders, two annotators."""
    from evalkit.leaderboard.arena import SALT_SETTING
    from evalkit.ratings.votes import annotator_id

    salt = store.setting(SALT_SETTING, lambda: "fixture-salt")  # a fixed salt: reproducible ids
    choices = ["model_a", "model_a", "model_b", "tie", "tie (bothbad)", "model_a"]
    n = 0
    for i, model_a in enumerate(models):
        for model_b in models[i + 1:]:
            for question in questions:
                annotator = annotator_id("ann" if n % 2 else "bob", salt)
                battle = store.add_battle(question, model_a, model_b, shown_left="model_a" if n % 2 else "model_b",
                                          annotator=annotator)
                store.add_vote(battle, annotator, choices[n % len(choices)])
                n += 1


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> SeededStore:
    """A store filled by real evalkit runs (see the module docstring); read-only for tests: copy it to write."""
    work = tmp_path_factory.mktemp("seeded")
    base = work / "tiny-base"
    shutil.copytree(tiny_model_dir, base)
    store = work / "home" / "evalkit.db"

    # -- train base -> SFT -> DPO, merging after each step ---------------------------------------------
    write_jsonl(work / "sft.jsonl", conversations(8))
    write_jsonl(work / "dpo.jsonl", _preferences())
    (work / "chatml.jinja").write_text(CHATML)
    common = "adapter: lora\nchat_template: chatml.jinja\nmax_length: 64\nlora: {r: 4, lora_alpha: 8}\n" \
             "trainer: {per_device_train_batch_size: 2, learning_rate: 0.001, logging_steps: 1}\n"
    (work / "sft.yaml").write_text(f"method: sft\nmodel: {base}\ndataset: {{path: sft.jsonl}}\n{common}")
    (work / "dpo.yaml").write_text(f"method: dpo\nmodel: {work / 'sft'}\ndataset: {{path: dpo.jsonl}}\n{common}")
    for step in ("sft", "dpo"):
        _cli("train", str(work / f"{step}.yaml"), "--output", str(work / f"{step}-adapter"), "--max-steps", "4",
             cwd=work)
        _cli("merge", "--adapter", str(work / f"{step}-adapter"), "--out", str(work / step), "--store", str(store),
             cwd=work)

    # -- evaluate all three ----------------------------------------------------------------------------
    write_jsonl(work / "texts.jsonl", [{"text": "The lighthouse keeper climbed the spiral stairs at dusk."},
                                       {"text": "Rivers carve valleys over thousands of years."}])
    write_jsonl(work / "qa.jsonl", [{"prompt": f"Q: What is {i} plus {i}?\nA:", "references": [f"{2 * i}"]}
                                    for i in range(4)])
    _write_mmlu(work / "mmlu", work / "mirror")
    (work / "suite.yaml").write_text(SUITE.format(texts=work / "texts.jsonl", qa=work / "qa.jsonl"))
    for model in ("tiny-base", "sft", "dpo"):
        _cli("run", str(work / "suite.yaml"), "--model", model, "--store", str(store), "--device", "cpu",
             "--data-root", str(work / "mirror"), "--output", str(work / f"run-{model}"), cwd=work)
    _cli("results", "import", str(LM_EVAL_RESULTS), "--store", str(store), cwd=work)

    # -- judge: answers and judgments of the tiny judge (v1's unscored); then the fixture verdicts and votes -
    for a, b, version in (("tiny-base", "sft", "evalkit-judge-v2"), ("sft", "dpo", "evalkit-judge-v1")):
        _cli("judge", "--a", a, "--b", b, "--questions", str(QUESTIONS), "--limit", "3", "--judge",
             f"local:{base}", "--store", str(store), "--max-answer-tokens", "8", "--judge-max-tokens", "8",
             "--device", "cpu", "--prompt-version", version, cwd=work)
    with Store(store) as s:
        questions = sorted({a["question_id"] for a in s.get_answers()})
        chain = ("tiny-base", "sft", "dpo")
        seed_verdicts(s, chain, questions)
        seed_votes(s, chain, questions)
        imported = next(r.model_name for r in s.list_runs() if r.status == "imported")
    return SeededStore(path=store, base="tiny-base", sft="sft", dpo="dpo", imported=imported, suite="lb-mini",
                       tasks=("ppl", "qa", "mmlu", "humaneval"), judge_models=chain)


@pytest.fixture
def seeded_copy(seeded_store: SeededStore, tmp_path: Path) -> SeededStore:
    """A private copy of the seeded store, for tests that write (votes)."""
    copy = tmp_path / "evalkit.db"
    copy_store(seeded_store.path, copy)
    return SeededStore(**{**seeded_store.__dict__, "path": copy})


def copy_store(source: Path, target: Path) -> None:
    """A consistent copy of the store ``source`` at ``target`` (SQLite's online backup: WAL included)."""
    import sqlite3

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def empty_store(tmp_path: Path) -> Path:
    """A store with the current schema and nothing in it."""
    path = tmp_path / "empty" / "evalkit.db"
    Store(path).close()
    return path


@pytest.fixture
def app_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """``app_test(store, arena=False, tokens=None, votes_per_minute=None)`` → an ``AppTest`` of the
    leaderboard app on ``store`` (not run yet: call ``.run()``)."""
    from streamlit.testing.v1 import AppTest

    from evalkit.leaderboard import settings

    def make(store: Path, arena: bool = False, tokens: Path | None = None,
             votes_per_minute: int | None = None) -> AppTest:
        monkeypatch.setenv(settings.STORE, str(store))
        monkeypatch.setenv(settings.ARENA, "1" if arena else "0")
        monkeypatch.setenv(settings.TOKENS, str(tokens) if tokens else "")
        monkeypatch.setenv(settings.RATE, str(votes_per_minute or ""))
        return AppTest.from_file(str(APP), default_timeout=120)

    yield make


def stored_results(store: Path, model: str) -> dict[tuple[str, str, str], float]:
    """``{(task, metric, filter): value}`` of ``model``'s latest run, read with the Store API (the
    reference the pages' numbers are checked against)."""
    with Store(store) as s:
        run = next(r for r in s.list_runs() if r.model_name == model)
        return {(r.task, r.metric, r.filter): r.value for r in s.get_results(run.run_id)}
