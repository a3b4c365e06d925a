"""Several processes sharing one store (a SQLite file, a PostgreSQL database): no "database is locked", nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.store import Store

REPO_ROOT = Path(__file__).resolve().parents[2]
N_WRITES = 300

# Each writer waits for the "go" file so that all processes open the (not yet existing)
# database at the same moment, racing the creation and migration of the file; then each waits
# until every writer has opened it, so that their write loops really overlap.
WRITER = """
import sys, time
from pathlib import Path
from evalkit.store import ResultRow, Store

db, name, go, n, writers = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
while not go.exists():
    time.sleep(0.001)
with Store(db) as store:
    (go.parent / ("ready-" + name)).touch()
    while not all((go.parent / ("ready-" + w)).exists() for w in writers):
        time.sleep(0.0005)
    run = "run-" + name
    store.upsert_model("fp-" + name, name, None)
    store.create_run(run, "suite", "0" * 64, "fp-" + name, name, {"writer": name}, None)
    for i in range(n):
        store.cache_put_many(
            "shared-fp",
            [(f"{name}-{i}-a", {"i": i}, {"text": f"{name}{i}a"}), (f"{name}-{i}-b", {"i": i}, [i, name])],
        )
        store.add_results(run, [ResultRow(f"task{i:04d}", "acc", "none", i / n, None, i)])
    store.finish_run(run, "finished", {"writes": n})
print("ok")
"""

READER = """
import sys, time
from pathlib import Path
from evalkit.store import Store

db, go, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
loops = 0
with Store(db) as store:
    while True:
        finished = stop.exists()
        for run in store.list_runs():
            results = store.get_results(run.run_id)
            assert len(results) >= 0
            assert store.get_run(run.run_id) is not None
        store.cache_count("shared-fp")
        store.cache_get_many("shared-fp", [f"w1-{i}-a" for i in range(50)])
        loops += 1
        if finished:
            break
print(loops)
"""

KILLED_WRITER = """
import sys
from evalkit.store import ResultRow, Store

store = Store(sys.argv[1])
store.create_run("doomed", "suite", "0" * 64, "fp", "m", {}, None)
i = 0
while True:
    store.add_results("doomed", [ResultRow(f"task{i:05d}", "acc", "none", 0.5, None, 1)])
    print(i, flush=True)  # printed only after the commit returned
    i += 1
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def test_two_writers_and_a_reader_never_fail_and_lose_nothing(tmp_path: Path, store_spec: str | Path) -> None:
    # A SQLite file in a folder that does not exist yet: the racing writers create both.
    db_path = tmp_path / "shared" / "evalkit.db" if isinstance(store_spec, Path) else store_spec
    go, stop = tmp_path / "go", tmp_path / "stop"
    names = ("w1", "w2")
    writers = [_spawn(WRITER, str(db_path), name, str(go), str(N_WRITES), *names) for name in names]
    reader = _spawn(READER, str(db_path), str(go), str(stop))
    started = time.monotonic()
    go.touch()
    try:
        outcomes = [w.communicate(timeout=60) for w in writers]
        stop.touch()
        reader_out, reader_err = reader.communicate(timeout=60)
    finally:
        for process in (*writers, reader):
            if process.poll() is None:
                process.kill()
    elapsed = time.monotonic() - started

    for process, (out, err) in zip(writers, outcomes, strict=True):
        assert process.returncode == 0, err
        assert out.strip() == "ok" and err == ""
    assert reader.returncode == 0, reader_err
    assert reader_err == "" and int(reader_out) >= 1
    assert elapsed < 20, f"concurrent writes took {elapsed:.1f}s"

    with Store(db_path) as store:
        assert store.cache_count("shared-fp") == 2 * 2 * N_WRITES
        hashes = [f"{name}-{i}-{s}" for name in ("w1", "w2") for i in range(N_WRITES) for s in "ab"]
        cached = store.cache_get_many("shared-fp", hashes)
        assert len(cached) == len(hashes)
        assert cached["w2-7-b"] == [7, "w2"]
        for name in ("w1", "w2"):
            results = store.get_results("run-" + name)
            assert len(results) == N_WRITES
            assert {r.n for r in results} == set(range(N_WRITES))
        runs = {r.run_id: r for r in store.list_runs()}
        assert set(runs) == {"run-w1", "run-w2"}
        assert all(r.status == "finished" and r.n_results == N_WRITES for r in runs.values())


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_writer_keeps_every_committed_result(store_spec: str | Path) -> None:
    db_path = store_spec
    writer = _spawn(KILLED_WRITER, str(db_path))
    assert writer.stdout is not None
    try:
        last = -1
        while last < 40:
            line = writer.stdout.readline()
            assert line, writer.stderr.read() if writer.stderr else "writer died"
            last = int(line)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()

    with Store(db_path) as store:
        results = store.get_results("doomed")
        assert len(results) >= last + 1
        assert store.list_runs()[0].status == "running"
    if not isinstance(db_path, Path):
        return
    # The file is intact after the kill.
    conn = sqlite3.connect(str(db_path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
