"""The leaderboard in a real browser: ``evalkit leaderboard --arena`` on loopback, headless chromium.

It opens the leaderboard and finds a stored model, then votes in the arena and finds the vote in
the store file, then finds the agreement table (a judge's row and the people's row) on the Ratings
page. Screenshots of the first two land in the test's folder (and ``$EVALKIT_TEST_ARTIFACTS``); the
Ratings page has none, as its hidden tab's charts are never drawn, so it never settles.

The store is a small one written through the Store API (two models with results, their answers to
two questions, a fixture judge's verdicts on them and imported human votes): the page logic is
covered by the AppTests on the seeded store and the frames' tests; this test is about the path a
person takes (server, websocket, browser, a write from the browser), and stays ~20 s.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from evalkit.store import Store
from evalkit.store.records import ResultRow
from tests.leaderboard.browser import chromium, grid_cell, leaderboard_server, missing_browser, new_page, screenshot

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=f"browser test: {missing_browser()}")

MODELS = ("tiny-base", "tiny-sft")
NAVIGATION = ["Leaderboard", "Model", "Samples", "Pairwise", "Ratings", "Arena"]
QUESTIONS = {"q-81": ("writing", "Write a haiku about tidy SQL."), "q-101": ("math", "What is 17 * 3?")}
JUDGE = "fixture#judge"


def write_small_store(path: Path) -> None:
    """Two models, each with a finished run of two tasks, and their answers to two questions; a fixture
    judge's verdicts on both questions and imported human votes on them (written through the Store API)."""
    from evalkit.judge.agreement import HumanVote

    with Store(path) as store:
        for i, name in enumerate(MODELS):
            fingerprint = f"fp-{name}"
            store.upsert_model(fingerprint, name, f"/models/{name}")
            run_id = f"run-{name}"
            store.create_run(run_id, "browser-suite", "0" * 64, fingerprint, name, {}, None)
            store.add_results(run_id, [ResultRow("qa", "exact_match", "none", 0.25 + 0.25 * i, 0.05, 40),
                                       ResultRow("ppl", "perplexity", "none", 30.0 - 5 * i, None, 40)])
            store.finish_run(run_id, "finished", {"wall_s": 1.0})
            store.put_answers([{"model": name, "question_id": qid, "category": category, "prompt": prompt,
                                "answer": f"Answer number {i + 1} to: {prompt.lower()}", "source": "generated"}
                               for qid, (category, prompt) in QUESTIONS.items()])
        store.put_judgments([{"question_id": qid, "category": category, "model_a": MODELS[0], "model_b": MODELS[1],
                              "judge": JUDGE, "prompt_version": "fixture-1", "mode": "pairwise", "verdict_ab": ab,
                              "verdict_ba": ba, "raw_ab": f"[[{ab}]]", "raw_ba": f"[[{ba}]]", "outcome": outcome}
                             for (qid, (category, _)), (ab, ba, outcome) in
                             zip(QUESTIONS.items(), [("A", "B", "win"), ("B", "B", "tie")], strict=True)])
        people = {"q-81": ("model_a", "model_a", "tie"), "q-101": ("tie", "model_b", "tie")}
        store.import_votes([HumanVote(qid, *MODELS, winner, annotator) for qid, winners in people.items()
                            for winner, annotator in zip(winners, ("ann", "bob", "cy"), strict=True)], "votes.csv")


def test_leaderboard_and_arena_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    store = tmp_path / "store.db"
    write_small_store(store)
    shots = tmp_path / "screenshots"
    with leaderboard_server(store, tmp_path / "server.log") as url, chromium() as browser:
        page = new_page(browser)
        # The root URL first, as people arrive: Streamlit learns the pages st.navigation declares when the
        # entry point first runs, so a deep link to a fresh server may flash "page not found" first.
        page.goto(url)
        # A name is in the DOM either as text or as a cell of st.dataframe's hidden accessibility table.
        expect(page.get_by_text(MODELS[1], exact=True).first).to_be_attached()
        expect(page.get_by_test_id("stSidebarNavLink")).to_have_text(NAVIGATION)  # the entry point's pages
        screenshot(page, shots, "leaderboard.png")

        page.goto(f"{url}/arena")
        expect(page.get_by_test_id("stSidebarNavLink")).to_have_text(NAVIGATION)
        page.get_by_label("Your name").fill("ada")
        page.get_by_role("button", name="Start voting").click()
        vote_a = page.get_by_role("button", name="A is better")
        expect(vote_a).to_be_enabled()
        for model in MODELS:  # anonymous until the vote
            expect(page.get_by_text(model)).to_have_count(0)
        vote_a.click()
        expect(page.get_by_text("Vote stored.")).to_be_visible()
        for model in MODELS:
            expect(page.get_by_text(model).first).to_be_visible()
        screenshot(page, shots, "arena.png")

        page.goto(f"{url}/ratings")
        expect(page.get_by_role("heading", name="People and the judges")).to_be_visible()
        expect(grid_cell(page, JUDGE)).to_be_attached()
        expect(grid_cell(page, "people (human–human)")).to_be_attached()
        expect(page.get_by_text("rank correlation of the judge's and people's Bradley–Terry ratings",
                                exact=False).first).to_be_visible()

    with sqlite3.connect(store) as conn:
        votes = conn.execute("SELECT v.choice, v.annotator, b.shown_left, b.model_a, b.model_b "
                             "FROM votes v JOIN battles b ON b.id = v.battle_id WHERE b.source_key IS NULL").fetchall()
    assert len(votes) == 1
    choice, annotator, shown_left, model_a, model_b = votes[0]
    assert {model_a, model_b} == set(MODELS)
    assert choice == ("model_a" if shown_left == "model_a" else "model_b")  # A is the left answer
    assert annotator and annotator != "ada"  # a salted hash, never the name
    assert (shots / "leaderboard.png").stat().st_size > 10_000
    assert (shots / "arena.png").stat().st_size > 10_000
