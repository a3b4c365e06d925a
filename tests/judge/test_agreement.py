"""Agreement of a judge with people: every statistic against a hand count, the bootstrap, rank correlation, LLMFAO.

The hand-counted table (``JUDGED`` and ``VOTES``; votes as (pair, winner) seen from the judged pair):

    pair  question  models  judge    calls (ab, ba)  votes                          counts [a, b, tie]
    P1    q1        X, Y    model_a  A, C            X, X, Y, tie                   [2, 1, 1]
    P2    q1        X, Z    tie      C, A            Z (written Z vs X), bothbad, Z [0, 2, 1]
    P3    q2        Y, Z    model_b  B, —            Y, Z (written Z vs Y)          [1, 1, 0]  no unique majority
    P4    q2        X, Y    model_a  —, —            X                              [1, 0, 0]
    P5    q2        X, Z    model_b  B, A            X, X, X                        [3, 0, 0]
    plus one vote on q3 (X, Y), which nobody judged.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evalkit.judge.agreement import HumanVote, JudgedPair, agreement_report, human_agreement

REPO = Path(__file__).resolve().parents[2]
ARENA = REPO.parent / "shared" / "data" / "arena"

JUDGED = [
    JudgedPair("q1", "X", "Y", "model_a", "A", "C"),
    JudgedPair("q1", "X", "Z", "tie", "C", "A"),
    JudgedPair("q2", "Y", "Z", "model_b", "B", None),
    JudgedPair("q2", "X", "Y", "model_a"),
    JudgedPair("q2", "X", "Z", "model_b", "B", "A"),
]
# Interleaved across pairs on purpose: only which pair a vote belongs to may matter, not its place.
VOTES = [
    HumanVote("q1", "X", "Y", "model_a", "w1"),
    HumanVote("q1", "Z", "X", "model_a", "w1"),  # Z wins, written the other way round
    HumanVote("q2", "Y", "Z", "model_a", "w2"),
    HumanVote("q1", "X", "Y", "model_a", "w2"),
    HumanVote("q3", "X", "Y", "model_a", "w1"),  # nobody judged q3
    HumanVote("q1", "X", "Z", "tie (bothbad)", "w2"),
    HumanVote("q2", "Z", "Y", "model_a", "w3"),  # Z wins, written the other way round
    HumanVote("q1", "X", "Y", "model_b", "w3"),
    HumanVote("q2", "X", "Y", "model_a"),
    HumanVote("q1", "X", "Z", "model_b", "w3"),
    HumanVote("q1", "X", "Y", "tie", "w4"),
    *(HumanVote("q2", "X", "Z", "model_a", f"w{i}") for i in (1, 2, 3)),
]


def value(stat: dict[str, Any]) -> tuple[float | None, int]:
    return stat["value"], stat["n"]


def test_every_statistic_is_the_hand_count() -> None:
    report = agreement_report(JUDGED, VOTES, bootstrap=0, rating_bootstrap=0)
    assert (report["pairs"], report["votes"], report["votes_unmatched"]) == (5, 13, 1)
    # Votes equal to the judge: P1 2 of 4, P2 1 (the bothbad tie) of 3, P3 1 of 2, P4 1 of 1, P5 0 of 3.
    assert value(report["per_vote"]) == (pytest.approx(5 / 13), 13)
    # Neither a tie: P2 (judge tie) out; P1 2 of 3, P3 1 of 2, P4 1 of 1, P5 0 of 3.
    assert value(report["per_vote_non_tie"]) == (pytest.approx(4 / 9), 9)
    # Majorities: P1 X (agrees), P2 Z (judge tie: no), P3 none (left out), P4 X (agrees), P5 X (no).
    assert value(report["majority"]) == (pytest.approx(2 / 4), 4)
    # Held-out votes whose others have a unique mode: P1 Y -> X, tie -> X (judge X: 2 of 2; holding out
    # an X leaves 1-1-1); P2 tie -> Z (0 of 1; a Z leaves 1-1); P3 Y -> Z (yes), Z -> Y (no); P4 has 1
    # vote; P5 each X -> X (judge Z: 0 of 3). 3 of 8.
    assert value(report["leave_one_out"]) == (pytest.approx(3 / 8), 8)
    human = report["human_human"]
    # Ordered pairs of distinct votes agreeing, Σ c(c-1) / Σ k(k-1): P1 2/12, P2 2/6, P3 0/2, P4 0/0, P5 6/6.
    assert value(human["per_vote"]) == (pytest.approx(10 / 26), 26)
    # The same over non-tie votes: P1 [2, 1] 2/6, P2 [0, 2] 2/2, P3 [1, 1] 0/2, P5 [3, 0] 6/6.
    assert value(human["per_vote_non_tie"]) == (pytest.approx(10 / 16), 16)
    # The same held-out votes as the judge's: only P5's three match the others' mode.
    assert value(human["leave_one_out"]) == (pytest.approx(3 / 8), 8)
    # Both orders: P1 (A, C) no, P2 (C, A) no, P5 (B, A) yes.
    assert value(report["position_consistency"]) == (pytest.approx(1 / 3), 3)
    # Decisive calls: P1 A; P2 A (second call); P3 B; P5 B, A: 3 of 5 picked the first shown.
    assert value(report["first_position_rate"]) == (pytest.approx(3 / 5), 5)
    assert all(report[k]["ci"] is None for k in ("per_vote", "majority", "position_consistency"))


def test_the_report_does_not_depend_on_how_a_pair_is_written() -> None:
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    swapped = [JudgedPair(p.question_id, p.model_b, p.model_a, flip[p.outcome], p.verdict_ba, p.verdict_ab)
               for p in JUDGED]
    revoted = [HumanVote(v.question_id, v.model_b, v.model_a, flip.get(v.winner, v.winner), v.annotator)
               for v in VOTES]
    mixed = [p if i % 2 else swapped[i] for i, p in enumerate(JUDGED)]
    reference = agreement_report(JUDGED, VOTES, bootstrap=0, rating_bootstrap=0)
    assert reference["rank_correlation"]["kendall_tau"]["value"] is not None
    for judged, votes in ((swapped, VOTES), (JUDGED, revoted), (swapped, revoted[::-1]), (mixed, VOTES)):
        assert agreement_report(judged, votes, bootstrap=0, rating_bootstrap=0) == reference


def test_a_judge_given_in_one_order_has_no_position_statistics() -> None:
    one_order = [JudgedPair(p.question_id, p.model_a, p.model_b, p.outcome) for p in JUDGED]
    report = agreement_report(one_order, VOTES, bootstrap=0, rating_bootstrap=0)
    assert report["position_consistency"] is None and report["first_position_rate"] is None
    assert value(report["per_vote"]) == (pytest.approx(5 / 13), 13)
    # Only P3 has a call (one order): first_position_rate exists, position_consistency does not.
    report = agreement_report(JUDGED[2:4], VOTES, bootstrap=0, rating_bootstrap=0)
    assert report["position_consistency"] is None and value(report["first_position_rate"]) == (0.0, 1)


def test_human_agreement_alone_groups_votes_by_pair() -> None:
    report = human_agreement(VOTES, bootstrap=0)
    # The judged table's figures, plus the q3 pair's single vote (no pair of distinct votes).
    assert (report["pairs"], report["votes"]) == (6, 14)
    assert value(report["per_vote"]) == (pytest.approx(10 / 26), 26)
    assert value(report["per_vote_non_tie"]) == (pytest.approx(10 / 16), 16)
    assert value(report["leave_one_out"]) == (pytest.approx(3 / 8), 8)


def test_bootstrap_is_a_seeded_percentile_interval_over_pairs() -> None:
    report = agreement_report(JUDGED, VOTES, bootstrap=400, rating_bootstrap=0, seed=3)
    for name in ("per_vote", "per_vote_non_tie", "majority", "leave_one_out", "position_consistency",
                 "first_position_rate"):
        low, high = report[name]["ci"]
        assert low <= report[name]["value"] <= high, name
        assert low < high, name
    assert report == agreement_report(JUDGED, VOTES, bootstrap=400, rating_bootstrap=0, seed=3)
    assert report["per_vote"]["ci"] != agreement_report(JUDGED, VOTES, bootstrap=400, rating_bootstrap=0,
                                                        seed=4)["per_vote"]["ci"]

    # The same interval from a plain loop over the documented draws: n pairs with replacement per round.
    per_pair = [(2, 4), (1, 3), (1, 2), (1, 1), (0, 3)]  # (votes agreeing, votes) of P1..P5
    rng = np.random.default_rng(np.random.SeedSequence(3).spawn(2)[0])
    shares = []
    for _ in range(400):
        drawn = [per_pair[i] for i in rng.integers(0, 5, size=5)]
        shares.append(sum(a for a, _ in drawn) / sum(k for _, k in drawn))
    assert report["per_vote"]["ci"] == pytest.approx(list(np.percentile(shares, [2.5, 97.5])))


def test_pairs_move_whole_in_the_bootstrap() -> None:
    # Every pair agrees with exactly half its votes, so every resample of pairs gives 1/2 (resampled votes would not).
    split = {"q0": ("model_a", "model_b"), "q1": ("model_a", "model_b", "model_b", "model_a"), "q2": ("tie", "model_a")}
    judged = [JudgedPair(q, "X", "Y", "model_a") for q in split]
    votes = [HumanVote(q, "X", "Y", w) for q, winners in split.items() for w in winners]
    stat = agreement_report(judged, votes, bootstrap=200, rating_bootstrap=0)["per_vote"]
    assert stat["value"] == 0.5 and stat["ci"] == [0.5, 0.5]
    # Two pairs that disagree with each other (all votes for X, all for Y) make the same 1/2 uncertain.
    judged += [JudgedPair("q3", "X", "Y", "model_a"), JudgedPair("q4", "X", "Y", "model_a")]
    votes += [HumanVote("q3", "X", "Y", "model_a")] * 2 + [HumanVote("q4", "X", "Y", "model_b")] * 2
    low, high = agreement_report(judged, votes, bootstrap=200, rating_bootstrap=0)["per_vote"]["ci"]
    assert low < 0.5 < high


def _ranked_table(judge_order: list[str], people_order: list[str]) -> tuple[list[JudgedPair], list[HumanVote]]:
    """Every two models on three questions; the judge's better model wins two of the three, and on each pair the
    people's better model gets two of three votes: strict, finite Bradley–Terry orders on both sides."""
    judged, votes = [], []
    for i, first in enumerate(judge_order):
        for second in judge_order[i + 1:]:
            for q, judge_first in enumerate((True, True, False)):
                people_first = people_order.index(first) < people_order.index(second)
                # The middle question is written the other way round (second model as model_a).
                a, b = (second, first) if q == 1 else (first, second)
                judged.append(JudgedPair(f"q{q}", a, b, "model_a" if judge_first == (a == first) else "model_b"))
                better, worse = ("model_a", "model_b") if people_first == (a == first) else ("model_b", "model_a")
                votes += [HumanVote(f"q{q}", a, b, w) for w in (better, better, worse)]
    return judged, votes


def test_rank_correlation_on_known_orders() -> None:
    order = ["M1", "M2", "M3", "M4"]
    judged, votes = _ranked_table(order, order)
    same = agreement_report(judged, votes, bootstrap=0, rating_bootstrap=0)["rank_correlation"]
    assert same["models"] == 4 and same["kendall_tau"]["value"] == pytest.approx(1.0)
    assert same["spearman"]["value"] == pytest.approx(1.0)
    judged, votes = _ranked_table(order, order[::-1])
    reverse = agreement_report(judged, votes, bootstrap=0, rating_bootstrap=0)["rank_correlation"]
    assert reverse["kendall_tau"]["value"] == pytest.approx(-1.0)
    assert reverse["spearman"]["value"] == pytest.approx(-1.0)
    # People swap the top two: 5 concordant, 1 discordant pair of models: tau = 4/6; rho = 1 - 6·2/(4·15) = 0.8.
    judged, votes = _ranked_table(order, ["M2", "M1", "M3", "M4"])
    # A model only the judge saw (one judged pair, no votes) is not in both ratings and leaves the figures alone.
    judged.append(JudgedPair("q9", "M1", "M5", "model_a"))
    swapped = agreement_report(judged, votes, bootstrap=0, rating_bootstrap=40, seed=1)["rank_correlation"]
    assert swapped["models"] == 4 and swapped["kendall_tau"]["n"] == 4
    assert swapped["kendall_tau"]["value"] == pytest.approx(2 / 3)
    assert swapped["spearman"]["value"] == pytest.approx(0.8)
    for name in ("kendall_tau", "spearman"):
        low, high = swapped[name]["ci"]
        assert -1.0 <= low <= swapped[name]["value"] <= high <= 1.0 and low < high
    assert swapped == agreement_report(judged, votes, bootstrap=0, rating_bootstrap=40, seed=1)["rank_correlation"]


def test_rank_correlation_is_tau_b_with_models_rated_infinite() -> None:
    # The judge: M1 beats everyone, M2 everyone else (both +inf: only wins, M2 once M1 is set aside); M3 and
    # M4 split 2-1. People: M1 > M2 > M3 > M4. Of the 6 model pairs 5 are concordant, (M1, M2) tied by the
    # judge: τ-b = 5 / √(5·6); ranks [3.5, 3.5, 2, 1] against [4, 3, 2, 1]: rho = 4.5 / √(4.5·5).
    order = ["M1", "M2", "M3", "M4"]
    _, votes = _ranked_table(order, order)
    judged = [JudgedPair(f"q{q}", a, b, "model_a") for q in range(3)
              for a, b in (("M1", "M2"), ("M1", "M3"), ("M1", "M4"), ("M2", "M3"), ("M2", "M4"))]
    judged += [JudgedPair(f"q{q}", "M3", "M4", w) for q, w in enumerate(("model_a", "model_b", "model_a"))]
    figures = agreement_report(judged, votes, bootstrap=0, rating_bootstrap=0)["rank_correlation"]
    assert figures["models"] == 4
    assert figures["kendall_tau"]["value"] == pytest.approx(5 / 30 ** 0.5)
    assert figures["spearman"]["value"] == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="no judged pairs"):
        agreement_report([], VOTES)
    with pytest.raises(ValueError, match="judged already"):
        agreement_report([JUDGED[0], JudgedPair("q1", "Y", "X", "tie")], VOTES, bootstrap=0)
    with pytest.raises(ValueError, match="outcome 'win'"):
        agreement_report([JudgedPair("q1", "X", "Y", "win")], VOTES, bootstrap=0)
    with pytest.raises(ValueError, match="verdict 'unscored'"):
        agreement_report([JudgedPair("q1", "X", "Y", "tie", "unscored")], VOTES, bootstrap=0)
    with pytest.raises(ValueError, match="winner 'left'"):
        agreement_report(JUDGED, [HumanVote("q1", "X", "Y", "left")], bootstrap=0)
    with pytest.raises(ValueError, match="against itself"):
        agreement_report(JUDGED, [HumanVote("q1", "X", "X", "tie")], bootstrap=0)


# -- LLMFAO ------------------------------------------------------------------------------------------------

needs_llmfao = pytest.mark.skipif(not (ARENA / "llmfao_pairs-crowd.jsonl").exists(),
                                  reason=f"{ARENA} absent (shared data beside the checkout)")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("judge_agreement_bench", REPO / "bench" / "judge_agreement.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _llmfao_votes(path: Path) -> list[HumanVote]:
    import csv

    sides = {"left": "model_a", "right": "model_b", "tie": "tie"}
    with path.open(encoding="utf-8", newline="") as handle:
        return [HumanVote(r["prompt"], r["left"], r["right"], sides[r["winner"]], r.get("worker"))
                for r in csv.DictReader(handle)]


@needs_llmfao
def test_llmfao_reference_figures() -> None:
    """The figures agreed in the brief, read straight from LLMFAO's CSV files (left = model_x = model_a)."""
    crowd = _llmfao_votes(ARENA / "llmfao_crowd_comparisons.csv")
    figures = {}
    for name, file in (("gpt4", "llmfao_gpt4-crowd-comparisons.csv"), ("gpt35", "llmfao_gpt3-crowd-comparisons.csv")):
        judged = [JudgedPair(v.question_id, v.model_a, v.model_b, v.winner) for v in _llmfao_votes(ARENA / file)]
        figures[name] = agreement_report(judged, crowd, bootstrap=0, rating_bootstrap=0)
    gpt4, gpt35 = figures["gpt4"], figures["gpt35"]
    assert (gpt4["pairs"], gpt4["votes"], gpt4["votes_unmatched"]) == (2139, 8931, 0)
    assert gpt4["per_vote"]["value"] == pytest.approx(0.41485, abs=1e-4)
    assert value(gpt4["per_vote_non_tie"]) == (pytest.approx(0.66163, abs=1e-4), 5358)
    assert gpt35["per_vote"]["value"] == pytest.approx(0.37566, abs=1e-4)
    assert gpt35["per_vote_non_tie"]["value"] == pytest.approx(0.60112, abs=1e-4)
    assert gpt4["human_human"]["per_vote"]["value"] == pytest.approx(0.53223, abs=1e-4)
    assert gpt4["human_human"]["per_vote_non_tie"]["value"] == pytest.approx(0.70126, abs=1e-4)
    assert gpt4["human_human"] == gpt35["human_human"]  # people's figures depend on the pairs only
    assert human_agreement(crowd, bootstrap=0)["per_vote"]["value"] == pytest.approx(0.53223, abs=1e-4)
    assert gpt4["rank_correlation"]["models"] == 59


@needs_llmfao
def test_bench_conversion_gives_the_same_figures(tmp_path: Path) -> None:
    """bench/judge_agreement.py's converted files: one row per pair and vote, and the reference figures again
    (longer answer wins included, from the converted answers)."""
    bench = _bench()
    written = bench.convert(ARENA, tmp_path)
    assert written == {"pairs.jsonl": 2139, "votes.jsonl": 8931, "gpt4.jsonl": 2139, "gpt35.jsonl": 2139}
    pair = json.loads((tmp_path / "pairs.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(pair) == {"id", "question_id", "question", "model_a", "answer_a", "model_b", "answer_b"}
    assert (pair["id"], pair["question_id"], pair["model_a"], pair["model_b"]) == ("0", "8", "Airoboros L2 70B",
                                                                                  "Weaver 12k")
    vote = json.loads((tmp_path / "votes.jsonl").read_text(encoding="utf-8").splitlines()[2])
    assert vote == {"question_id": "8", "model_a": "Airoboros L2 70B", "model_b": "Weaver 12k",
                    "winner": "model_b", "annotator": "14"}
    reports = bench.reference_reports(tmp_path, None, 0, 0, 0)
    assert reports["gpt4"]["per_vote"]["value"] == pytest.approx(0.41485, abs=1e-4)
    assert reports["gpt35"]["per_vote_non_tie"]["value"] == pytest.approx(0.60112, abs=1e-4)
    assert reports["longer"]["per_vote"]["value"] == pytest.approx(0.25059, abs=1e-4)
    limited = bench.reference_reports(tmp_path, 100, 0, 0, 0)
    assert limited["gpt4"]["pairs"] == limited["longer"]["pairs"] == 100
