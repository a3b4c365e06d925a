"""How fast the leaderboard renders a big store: 200 models × 30 metrics and 100,000 samples.

Targets (issue 11): the leaderboard page under 3 s, a samples page under 2 s, measured twice:

* AppTest (streamlit's headless script runner, in this process): one page run, first with a cold
  cache (every query hits SQLite) and again with the cache warm (a rerun, as a widget change makes);
* Chromium (the real ``evalkit leaderboard`` server, headless Debian chromium driven by Playwright):
  from navigation start to the first meaningful paint: a model's row of the table, the first
  sample's text. First visit (server cache cold) and a second visit in a fresh tab.

The store is written through the Store API: 3 suites × 10 tasks with one metric each, a finished
run of every suite for every model plus an older, superseded run of the first suite (the pages
must pick the latest), and the samples spread over the first runs, ``--docs-per-task`` per task.

    .venv/bin/python bench/leaderboard_load.py [--models 200] [--samples 100000] [--keep STORE] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser helpers live with the browser test

from evalkit.leaderboard.settings import AppSettings  # noqa: E402
from evalkit.store import Store  # noqa: E402
from evalkit.store.records import ResultRow  # noqa: E402

SUITES = ("open-llm", "reasoning", "code")
TASKS_PER_SUITE = 10
APP = REPO / "leaderboard" / "app.py"
TARGETS_S = {"leaderboard": 3.0, "samples": 2.0}


#: The samples page is opened on this model's newest run with samples (``?model=``), at its first task.
SAMPLES_MODEL = "model-000"
#: What "drawn" means: a model's row of the leaderboard table; the first item of that run's task.
MODEL_NAME = r"model-\d{3}"
LEADERBOARD_SHOWS = re.compile(rf"^{MODEL_NAME}$")
SAMPLES_SHOWS = re.compile(rf"Question 0 of \S+ in {SAMPLES_MODEL}-")


def task_names() -> list[tuple[str, str]]:
    """(suite, task) pairs: 3 suites × 10 tasks."""
    return [(suite, f"{suite}-task{t:02d}") for suite in SUITES for t in range(TASKS_PER_SUITE)]


def sample_text(run_id: str, task: str, doc_id: int) -> str:
    """The question of one generated sample: unique, so the browser can wait for exactly it."""
    return f"Question {doc_id} of {task} in {run_id}: what is {doc_id} + {doc_id}?"


def build_store(path: Path, n_models: int, n_samples: int, docs_per_task: int) -> None:
    """Write the benchmark's store at ``path`` (removed first); the first models' runs get the samples."""
    path.unlink(missing_ok=True)
    tasks = task_names()
    written = 0
    with Store(path) as store:
        for m in range(n_models):
            name = f"model-{m:03d}"
            fingerprint = f"fp{m:06d}"
            store.upsert_model(fingerprint, name, f"/models/{name}", metadata={"parameters": 135_000_000 + m})
            for s, suite in enumerate(SUITES):
                # An older run of the first suite that a newer one supersedes (the page must show the latest).
                runs = ([(f"{name}-{suite}-old", 0.5)] if s == 0 else []) + [(f"{name}-{suite}", 0.0)]
                for run_id, offset in runs:
                    day = "01" if offset else "02"
                    store.create_run(run_id, suite, "0" * 64, fingerprint, name, {"suite": suite}, None,
                                     started_at=f"2025-01-{day}T00:00:{m % 60:02d}.000000+00:00")
                    store.add_results(run_id, [ResultRow(task, "acc", "none", (m * 7 + t * 13) % 100 / 100 - offset,
                                                         0.01 + t / 1000, 500)
                                               for t, (task_suite, task) in enumerate(tasks) if task_suite == suite])
                    store.finish_run(run_id, "finished", {"wall_s": 60.0},
                                     finished_at=f"2025-01-{day}T01:00:{m % 60:02d}.000000+00:00")
                    if offset or written >= n_samples:
                        continue
                    for _, task in (t for t in tasks if t[0] == suite):
                        count = min(docs_per_task, n_samples - written)
                        if count <= 0:
                            break
                        store.add_samples(run_id, task, [sample_record(run_id, task, d) for d in range(count)])
                        written += count


def sample_record(run_id: str, task: str, doc_id: int) -> dict[str, object]:
    """A generate-until sample as the runner stores it (doc, target, arguments, responses, metric)."""
    question = sample_text(run_id, task, doc_id)
    answer = str(2 * doc_id) if doc_id % 3 else "I do not know"
    return {"doc_id": doc_id, "filter": "none", "doc": {"question": question, "answer": str(2 * doc_id)},
            "target": str(2 * doc_id), "arguments": [[f"Q: {question}\nA:", {"until": ["\n"]}]],
            "resps": [[f" {answer}"]], "filtered_resps": [answer], "exact_match": float(doc_id % 3 != 0)}


# -- measurements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    what: str
    page: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.seconds < TARGETS_S[self.page]


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def apptest_timings(store: Path) -> list[Timing]:
    """Leaderboard and samples page runs in AppTest: cold cache, then a rerun with the cache warm."""
    import altair  # noqa: F401  (imported by the pages; a server has it loaded already, so keep it out of the timing)
    import pandas  # noqa: F401
    from streamlit.testing.v1 import AppTest

    os.environ.update(AppSettings(store=store, arena=True).to_environ())
    at = AppTest.from_file(str(APP), default_timeout=120)
    out = [Timing("AppTest, first run (cold cache)", "leaderboard", timed(at.run))]
    _check(at, "leaderboard", re.compile(MODEL_NAME))
    out.append(Timing("AppTest, rerun (cache warm)", "leaderboard", timed(at.run)))
    at.switch_page("views/samples.py")
    at.query_params["model"] = SAMPLES_MODEL
    out.append(Timing("AppTest, first run (cold cache)", "samples", timed(at.run)))
    _check(at, "samples", SAMPLES_SHOWS)
    out.append(Timing("AppTest, rerun (cache warm)", "samples", timed(at.run)))
    return out


def shown_text(node: object) -> str:
    """Everything an AppTest element tree shows as text (tables as CSV), to check a page drew its content."""
    parts = []
    try:
        value = getattr(node, "value", None)
    except Exception:  # noqa: BLE001 - a widget without state has no value to read
        value = None
    if value is not None:
        parts.append(value.to_csv() if hasattr(value, "to_csv") else str(value))
    parts.extend(shown_text(child) for child in getattr(node, "children", {}).values())
    return "\n".join(parts)


def _check(at: AppTest, page: str, expected: re.Pattern[str]) -> None:
    """Stop when the page raised or does not show ``expected``: a timing of an empty page means nothing."""
    if at.exception:
        raise SystemExit(f"the {page} page raised: {at.exception[0].message}")
    if not expected.search(shown_text(at.main)):
        raise SystemExit(f"the {page} page does not show {expected.pattern!r}")


def browser_timings(store: Path, log: Path) -> list[Timing]:
    """Navigation start → first meaningful paint in chromium, first visit and a second one in a fresh tab."""
    from playwright.sync_api import Page

    from tests.leaderboard.browser import chromium, leaderboard_server, new_page

    def paint_s(page: Page, url: str, what: re.Pattern[str]) -> float:
        page.goto(url, wait_until="commit")
        # The title is the first thing the script draws: up to there it is Streamlit's own start-up.
        page.get_by_role("heading").first.wait_for(timeout=60_000)
        heading_s = float(page.evaluate("performance.now()")) / 1000
        # Attached, not visible: st.dataframe draws on a canvas; its text is in a hidden accessibility table.
        page.get_by_text(what).first.wait_for(state="attached", timeout=60_000)
        # performance.now() counts from the navigation's start (the page's time origin).
        seconds = float(page.evaluate("performance.now()")) / 1000
        print(f"  /{url.split('/', 3)[-1]:<28} title after {heading_s:.2f} s, content after {seconds:.2f} s")
        return seconds

    out = []
    # The leaderboard is opened at the root URL, as people do: before the entry point has run once in the
    # server, Streamlit does not know its pages and a deep link may flash "page not found" first.
    with leaderboard_server(store, log) as url, chromium() as browser:
        for visit in ("first visit", "second visit"):
            out.append(Timing(f"Chromium, {visit}", "leaderboard",
                              paint_s(new_page(browser), f"{url}/", LEADERBOARD_SHOWS)))
            out.append(Timing(f"Chromium, {visit}", "samples",
                              paint_s(new_page(browser), f"{url}/samples?model={SAMPLES_MODEL}", SAMPLES_SHOWS)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--docs-per-task", type=int, default=1000, help="samples per (run, task) (default 1000)")
    parser.add_argument("--keep", type=Path, metavar="STORE", help="write the store here and keep it")
    parser.add_argument("--reuse", action="store_true", help="with --keep: use the store already there")
    parser.add_argument("--no-browser", action="store_true", help="AppTest timings only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "big.db"
        if args.reuse and path.exists():
            print(f"store {path} (reused)")
        else:
            start = time.perf_counter()
            build_store(path, args.models, args.samples, args.docs_per_task)
            seconds = time.perf_counter() - start
            size_mb = path.stat().st_size / 1e6
            print(f"store {path}: {args.models} models × {len(task_names())} metrics, {args.samples:,} samples "
                  f"({size_mb:.0f} MB, written in {seconds:.1f} s)")

        timings = apptest_timings(path)
        if not args.no_browser:
            from tests.leaderboard.browser import missing_browser

            reason = missing_browser()
            if reason:
                print(f"Chromium timings skipped: {reason}")
            else:
                timings += browser_timings(path, Path(tmp) / "server.log")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs, load average {load} (Chromium's timings are mostly its own start-up: CPU-bound)")
    print(f"{'measurement':<36} {'page':<12} {'seconds':>8}  {'target':>8}  result")
    for t in timings:
        print(f"{t.what:<36} {t.page:<12} {t.seconds:8.2f}  {'< ' + format(TARGETS_S[t.page], 'g') + ' s':>8}  "
              f"{'PASS' if t.ok else 'FAIL'}")
    return 0 if all(t.ok for t in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
