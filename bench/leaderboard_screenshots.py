"""The README's pictures of the leaderboard: the leaderboard, a model page and the arena, as PNGs.

Starts ``evalkit leaderboard --arena`` on a free loopback port over a store, opens each page in
headless Debian chromium (Playwright) at 1280×800 and saves ``leaderboard.png``, ``model.png`` and
``arena.png`` into ``docs/images/`` (or ``--out``). PNGs are reduced to 256 colours, which keeps
them small without visible loss on a UI of flat colours.

The store is the user's (``$EVALKIT_HOME/evalkit.db``) unless ``--store`` names one. ``--demo``
writes a store of real evalkit runs first: the tiny-model lineage base → SFT → DPO that the
leaderboard tests seed (minutes on a CPU), kept at ``--store`` when given.

    .venv/bin/python bench/leaderboard_screenshots.py [--store STORE] [--demo] [--model NAME] [--out docs/images]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser helpers live with the browser test

from tests.leaderboard.browser import (  # noqa: E402
    chromium,
    leaderboard_server,
    missing_browser,
    new_page,
    screenshot,
)

#: A name for the arena's annotator field (the arena shows a battle once a name is entered; no vote is cast).
ANNOTATOR = "readme"
#: The model page's picture is this tall, to reach the lineage table and the loss curve.
MODEL_PAGE_HEIGHT = 2300


def newest_model(store: Path) -> str | None:
    """The model of the most recently finished run: the one the model page shows by default."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT model_name FROM runs WHERE status IN ('finished', 'imported') "
                           "ORDER BY finished_at DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def shrink(path: Path) -> None:
    """Re-save ``path`` with a 256-colour palette (a third of the size; UI colours are flat)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with the ML stack; the PNG stays as it is
        return
    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    reduced.save(path, optimize=True)


def take(store: Path, out: Path, model: str | None, log: Path) -> list[Path]:
    """Photograph the leaderboard, ``model``'s page and the arena (after entering a name) into ``out``."""
    shots = []
    with leaderboard_server(store, log) as url, chromium() as browser:
        page = new_page(browser)
        page.goto(url)  # the root first: a deep link before the entry point ran once is not served as declared
        page.get_by_role("heading", name="Leaderboard").wait_for()
        shots.append(screenshot(page, out, "leaderboard.png"))

        # A tall window: the lineage and the loss curve lie below the metrics, and Streamlit scrolls its own
        # container rather than the page, so a full-page screenshot would still stop at the window's edge.
        page.set_viewport_size({"width": 1280, "height": MODEL_PAGE_HEIGHT})
        page.goto(f"{url}/model" + (f"?model={model}" if model else ""))
        page.get_by_role("heading", name="Model").first.wait_for()
        shots.append(screenshot(page, out, "model.png"))
        page.set_viewport_size({"width": 1280, "height": 800})

        page.goto(f"{url}/arena")
        page.get_by_label("Your name").fill(ANNOTATOR)
        page.get_by_role("button", name="Start voting").click()
        page.get_by_role("button", name="Both are bad").wait_for()
        shots.append(screenshot(page, out, "arena.png"))
    for path in shots:
        shrink(path)
    return shots


def demo_store(path: Path) -> None:
    """Write the store the leaderboard's tests seed with real tiny-model runs to ``path`` (pytest builds it)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/leaderboard/seeded_export.py"]
    env = {**os.environ, "EVALKIT_DEMO_STORE": str(path), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if subprocess.run(command, cwd=REPO, env=env).returncode != 0 or not path.is_file():
        raise SystemExit("leaderboard_screenshots: building the demo store failed (see pytest's output above)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="the results store (default: $EVALKIT_HOME/evalkit.db)")
    parser.add_argument("--demo", action="store_true", help="first write a store of real tiny-model runs")
    parser.add_argument("--model", help="the model page's model (default: the newest finished run's)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder for the PNGs")
    args = parser.parse_args()

    reason = missing_browser()
    if reason:
        print(f"leaderboard_screenshots: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if args.demo:
            store = (args.store or Path(tmp) / "demo.db").resolve()
            demo_store(store)
        elif args.store:
            store = args.store.resolve()
        else:
            from evalkit.config import Environment
            from evalkit.store import default_store_path

            store = default_store_path(Environment.from_environ(os.environ).home)
        if not store.is_file():
            print(f"leaderboard_screenshots: no store at {store} (run an evaluation first, or --demo)", file=sys.stderr)
            return 2
        for path in take(store, args.out, args.model or newest_model(store), Path(tmp) / "server.log"):
            print(f"{path} ({path.stat().st_size / 1000:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
