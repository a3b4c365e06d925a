"""The leaderboard in a real browser: the app served by ``evalkit leaderboard`` on a free loopback port,
and Debian's chromium driven headless by Playwright for Python.

Used by ``test_browser.py`` and by the benches that time or photograph the app
(``bench/leaderboard_load.py``, ``bench/leaderboard_screenshots.py``). The server always goes away:
it runs in its own process group (``evalkit leaderboard`` starts streamlit as a child), and that
group is terminated when the ``with`` block ends, however it ends.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
#: The size of the pictures: a laptop screen, small enough for PNGs a README can carry.
VIEWPORT = {"width": 1280, "height": 800}
#: Where CI collects test output; screenshots are copied there too when it is set.
ARTIFACTS = "EVALKIT_TEST_ARTIFACTS"


def missing_browser() -> str | None:
    """Why a real-browser test cannot run here, in one line naming the fix; ``None`` when it can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright (Python) is not installed: pip install -e '.[test]'"
    if not CHROMIUM.is_file():
        return f"no {CHROMIUM}: apt-get install chromium (`make sysdeps` does it as root)"
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with another process is retried)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerError(RuntimeError):
    """The app did not come up; the message carries the end of its log."""


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group (the command and its streamlit child); kill it if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
            # The command may exit before its child: make sure the whole group is gone.
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=5)


def _tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def leaderboard_server(store: Path, log: Path, *, arena: bool = True, timeout_s: float = 90.0,
                       extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve ``store`` with ``evalkit leaderboard`` on 127.0.0.1 and yield its base URL once
    ``/_stcore/health`` answers 200. The server's output goes to ``log``; ``ServerError`` (with the
    log's tail) when it exits or does not answer within ``timeout_s``."""
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "evalkit", "leaderboard", "--store", str(store), "--host", "127.0.0.1",
                   "--port", str(port), *(["--arena"] if arena else []), *extra_args]
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while not _healthy(url):
                if proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise ServerError(f"{' '.join(command)}: no answer on {url} after {timeout_s:g} s\n{_tail(log)}")
                time.sleep(0.2)
            else:
                yield url
                return
        finally:
            _stop(proc)
        # It exited before answering: another process may have taken the port between our check and its bind.
        if "already in use" not in _tail(log) or attempt == 2:
            raise ServerError(f"{' '.join(command)} exited with {proc.returncode}\n{_tail(log)}")
    raise AssertionError("unreachable")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Chromium's sandbox needs user namespaces, which root and most CI containers do not get; the
        # browser only visits our own app on loopback, so it runs without it. Containers give /dev/shm
        # 64 MB, too little for chromium's shared memory: it crashes tabs there unless told to use /tmp.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    """A fresh page (its own context: no shared cookies or session) at :data:`VIEWPORT`."""
    page = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
    page.set_default_timeout(30_000)
    return page


def settle(page: Page, timeout_ms: float = 30_000) -> None:
    """Wait until the page is drawn: connected, its script done, the lazily loaded elements (tables,
    charts) in place of their grey skeletons and every chart drawn.

    Call it after waiting for something the run shows: right after a click the app may not have
    started the rerun yet and still reads as done.
    """
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED'][data-test-script-state='notRunning']"
                 ).wait_for(timeout=timeout_ms)
    page.locator("[data-testid='stSkeleton']").first.wait_for(state="detached", timeout=timeout_ms)
    page.wait_for_function("Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart]'))"
                           ".every(chart => chart.querySelector('canvas, svg'))", timeout=timeout_ms)


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save the visible part of ``page`` (once settled: see :func:`settle`) as ``folder/name`` (PNG); also under
    ``$EVALKIT_TEST_ARTIFACTS``."""
    settle(page)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=False)
    artifacts = os.environ.get(ARTIFACTS, "").strip()
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(artifacts) / name)
    return path


def grid_cell(page: Page, text: str) -> Locator:
    """The cell of an ``st.dataframe`` showing exactly ``text``.

    The grid is drawn on a canvas; its text reaches the DOM only through the hidden accessibility
    table (``td role=gridcell``) and only for rows scrolled into view, so wait for it to be attached,
    not visible.
    """
    return page.get_by_role("gridcell", name=text, exact=True, include_hidden=True)
