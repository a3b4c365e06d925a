"""A ``local:`` judge: a real ``transformers serve`` on a tiny model, answering through the judge
client, and stopped on every exit path (leaving the block by an exception, SIGINT, SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.judge.client import OpenAIJudgeClient, RetryPolicy
from evalkit.judge.interfaces import JudgeRequest
from evalkit.judge.server import LocalServer, local_judge_server
from evalkit.store import Store
from tests.conftest import REPO

START_S = 240  # a CPU shared with other jobs can be slow to import torch and load even a tiny model
STOP_S = 180


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _assert_gone(server_pid: int, port: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(server_pid, 0)  # neither the server nor anything in its process group
    assert not _port_open(port)


class Boom(Exception):
    pass


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path) -> Iterator[LocalServer]:
    """One server for the module; it is left by an exception, which must stop it."""
    seen: list[LocalServer] = []
    with pytest.raises(Boom):
        with local_judge_server(str(tiny_model_dir), device="cpu", dtype="float32", start_timeout_s=START_S) as server:
            seen.append(server)
            assert _port_open(server.port)
            yield server
            raise Boom("an error while judging")
    _assert_gone(seen[0].pid, seen[0].port)


def test_a_real_local_judge_answers_through_the_client(served: LocalServer, tiny_model_dir: Path,
                                                       tmp_path: Path) -> None:
    assert served.model_id == str(tiny_model_dir)
    request = JudgeRequest(messages=(("user", "Which answer is better, A or B?"),), max_tokens=6)
    with Store(tmp_path / "s.db") as store:
        policy = RetryPolicy(max_attempts=2, timeout_s=120)
        client = OpenAIJudgeClient(served.base_url, served.model_id, "EMPTY", store=store, prompt_version="t",
                                   endpoint="local", model="tiny", concurrency=1, policy=policy)
        (text,) = client.complete_many([request])
        assert isinstance(text, str) and text  # a random model's words, but a real completion
        assert (client.stats.calls, client.stats.retries) == (1, 0)
        again = OpenAIJudgeClient(served.base_url, served.model_id, "EMPTY", store=store, prompt_version="t",
                                  endpoint="local", model="tiny", concurrency=1, policy=policy)
        assert again.complete_many([request]) == [text]
        assert (again.stats.calls, again.stats.cached) == (0, 1)
        client.close()
        again.close()


# The script restores Python's SIGINT handler: a process started in the background by a non-interactive
# shell (a CI runner, `make test &`) inherits SIGINT ignored, and Python then installs none; a user's
# Ctrl-C reaches a foreground process, which is what this test stands for.
SCRIPT = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from evalkit.cli import install_environment
    from evalkit.judge.server import local_judge_server

    install_environment()
    with local_judge_server(sys.argv[1], device="cpu", dtype="float32", start_timeout_s=float(sys.argv[2])) as s:
        print(s.pid, s.port, flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_server_is_stopped_when_evalkit_is_interrupted(sig: signal.Signals, tiny_model_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(START_S)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    server_pid = 0
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server answers /health (or the script dies)
        assert line, proc.stderr.read() if proc.stderr else ""
        server_pid, port = map(int, line.split())
        assert _port_open(port)
        proc.send_signal(sig)
        # Seconds on an idle machine; the bound is for a CPU shared with a training run and other tests
        # (measured: over 60 s once under such load). stderr is drained so a full pipe cannot block it.
        _, _ = proc.communicate(timeout=STOP_S)
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            if server_pid:  # a failed test must not leave a server behind
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server_pid, signal.SIGKILL)
    _assert_gone(server_pid, port)
