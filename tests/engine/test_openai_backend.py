"""The OpenAI-compatible backend against a real server, and against scripted faults.

The real server is ``transformers serve`` (transformers' own OpenAI-compatible FastAPI server)
started on a free local port with the default model preloaded: its positional FORCE_MODEL
argument pins the server to one model, and requests must then name that same string (the
checkpoint folder) as their ``model``. Startup takes ~7 s on a CPU.

The fault-injection tests use a small scripted HTTP server instead: only a fake can answer 429
on demand or show exactly what the backend sent.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evalkit.engine.openai_backend import MAX_API_STOPS, OpenAIBackend
from evalkit.engine.requests import GenerateUntil, Loglikelihood, Sampling
from evalkit.errors import UserError
from tests.conftest import run_cli, write_jsonl

SERVE_START_TIMEOUT_S = 180
QUESTION = "What is the capital of France? Answer in one short sentence."


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _generate(backend: OpenAIBackend, requests: list[GenerateUntil]) -> list[Any]:
    """Run ``generate_until`` and return the answers in request order (each index exactly once)."""
    answers: dict[int, Any] = {}

    def collect(indices: list[int], responses: list[Any]) -> None:
        for i, r in zip(indices, responses):
            assert i not in answers, f"request {i} answered twice"
            answers[i] = r

    backend.generate_until(requests, collect)
    assert sorted(answers) == list(range(len(requests)))
    return [answers[i] for i in range(len(requests))]


# -- a real `transformers serve` ---------------------------------------------------------------------
@dataclass(frozen=True)
class Served:
    base_url: str
    model_id: str  # what requests must name: the server is pinned to this model
    port: int


@pytest.fixture(scope="module")
def served(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("transformers-serve") / "serve.log"
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(default_model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32",
               "--default-seed", "0", "--log-level", "warning"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                # One torch thread: on a small shared CPU, a 135M model's short generations
                                # run ~5x faster than with torch's default of one thread per core.
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not healthy after {SERVE_START_TIMEOUT_S} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Served(f"http://127.0.0.1:{port}/v1", str(default_model_dir), port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        assert not _port_open(port), "transformers serve still listening after it was stopped"


def test_served_model_lists_itself(served: Served) -> None:
    with urllib.request.urlopen(f"{served.base_url}/models", timeout=10) as response:
        ids = [m["id"] for m in json.load(response)["data"]]
    assert ids == [served.model_id]


def test_generate_until_against_transformers_serve(served: Served) -> None:
    backend = OpenAIBackend(served.base_url, served.model_id, concurrency=1, max_retries=0)
    full, short = _generate(backend, [GenerateUntil(QUESTION, (), 12), GenerateUntil(QUESTION, (), 3)])
    assert isinstance(full, str) and isinstance(short, str)
    words = full.split(" ")
    assert len(words) >= 3, full  # the real model answers in a sentence ("The capital of France is ...")
    assert short and full.startswith(short) and len(short) < len(full)  # greedy: a prefix, cut by max_gen_toks

    # A stop string from the middle of the answer. transformers serve stops there but returns the stop
    # text itself; the backend must cut before it, as the OpenAI API does.
    stop = " " + words[2]
    (cut,) = _generate(backend, [GenerateUntil(QUESTION, ("@@never@@", stop, "\n\n"), 12)])
    assert cut == full[: full.index(stop)]


def test_cli_generation_suite_through_transformers_serve(served: Served, tmp_path: Path,
                                                         evalkit_env: Path) -> None:
    write_jsonl(tmp_path / "qa.jsonl", [
        {"prompt": QUESTION, "references": ["The capital of France is Paris.", "Paris"]},
        {"prompt": "What is the capital of Japan? Answer in one short sentence.",
         "references": ["The capital of Japan is Tokyo."]},
        {"prompt": "Name one primary colour.", "references": ["Red."]},
    ])
    suite = tmp_path / "served.yaml"
    suite.write_text("""
suite: served
defaults:
  generation: {max_gen_toks: 8}
tasks:
  - name: served_answers
    evaluator: generation_metrics
    dataset: {path: json, data_files: qa.jsonl}
    until: ["\\n"]
    metrics: [bleu, rouge]
""")
    out = tmp_path / "out"
    spec = f"openai:{served.base_url}#{served.model_id}"
    proc = run_cli("run", str(suite), "--model", spec, "--output", str(out), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    block = results["results"]["served_answers"]
    assert 0.0 <= block["bleu,none"] <= 100.0
    assert 0.0 <= block["rougeL,none"] <= 1.0
    assert block["rouge1,none"] > 0.0  # "The capital of France is ..." shares words with its reference
    assert results["config"]["model"] == spec
    samples = [json.loads(line) for line in (out / "samples_served_answers.jsonl").read_text().splitlines()]
    assert len(samples) == 3
    for sample in samples:
        (answer,) = sample["resps"]
        assert isinstance(answer, str) and "\n" not in answer
        assert sample["arguments"][0][1]["max_gen_toks"] == 8
    assert any(s["resps"][0].strip() for s in samples)  # the server really answered


# -- fault injection: a scripted endpoint --------------------------------------------------------------
class ScriptedEndpoint:
    """FAULT INJECTION, not a model: an HTTP server whose /v1/chat/completions answers with the
    statuses in ``script`` (then 200s) and records every request body it receives."""

    def __init__(self, script: list[int] | None = None, reply: str = "echo: {prompt}"):
        self.script = list(script or [])
        self.reply = reply
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.bodies.append(body)
                    status = endpoint.script.pop(0) if endpoint.script else 200
                if self.path != "/v1/chat/completions":
                    status = 404
                if status == 200:
                    content = endpoint.reply.format(prompt=body["messages"][-1]["content"])
                    payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": content}}]}
                else:
                    payload = {"error": {"message": f"scripted {status}", "type": "rate_limit", "code": status}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after-ms", "20")  # keep the client's back-off short
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_backend_retries_on_429() -> None:
    with ScriptedEndpoint(script=[429, 429], reply="Paris.") as endpoint:
        backend = OpenAIBackend(endpoint.base_url, "scripted", concurrency=1)
        assert _generate(backend, [GenerateUntil(QUESTION, ("\n",), 16)]) == ["Paris."]
    assert len(endpoint.bodies) == 3  # two refusals, then the answer
    assert all(b == endpoint.bodies[0] for b in endpoint.bodies)  # the same request each time


def test_backend_gives_up_after_max_retries_with_one_line() -> None:
    with ScriptedEndpoint(script=[429] * 10) as endpoint:
        backend = OpenAIBackend(endpoint.base_url, "scripted", concurrency=1, max_retries=2)
        with pytest.raises(UserError, match=r"RateLimitError.*rerun to resume") as caught:
            _generate(backend, [GenerateUntil(QUESTION, (), 16)])
        assert "\n" not in str(caught.value)
    assert len(endpoint.bodies) == 3  # the first try and two retries, no more


def test_backend_request_shape_and_client_side_stops() -> None:
    stops = ("<1>", "<2>", "<3>", "<4>", "<5>", "")
    # The answer holds only the fifth stop string, which the API cannot carry (four at most).
    with ScriptedEndpoint(reply="kept<5>dropped") as endpoint:
        backend = OpenAIBackend(endpoint.base_url, "scripted-model", concurrency=1)
        greedy = GenerateUntil("prompt one", stops, 7)
        sampled = GenerateUntil("prompt two", (), 9, Sampling(temperature=0.7, top_p=0.9, seed=5))
        assert _generate(backend, [greedy, sampled]) == ["kept", "kept<5>dropped"]
    first, second = sorted(endpoint.bodies, key=lambda b: b["messages"][0]["content"])
    assert first["model"] == "scripted-model"
    assert first["messages"] == [{"role": "user", "content": "prompt one"}]
    assert first["max_tokens"] == 7 and first["temperature"] == 0.0
    assert first["stop"] == list(stops[:MAX_API_STOPS])
    assert "top_p" not in first and "seed" not in first  # greedy sends no sampling knobs
    assert second["max_tokens"] == 9 and second.get("stop") is None
    assert (second["temperature"], second["top_p"], second["seed"]) == (0.7, 0.9, 5)


def test_concurrent_answers_reach_their_own_requests() -> None:
    prompts = [f"question {i}" for i in range(9)]
    with ScriptedEndpoint() as endpoint:
        backend = OpenAIBackend(endpoint.base_url, "scripted", concurrency=4)
        answers = _generate(backend, [GenerateUntil(p, (), 4) for p in prompts])
    assert answers == [f"echo: {p}" for p in prompts]
    assert len(endpoint.bodies) == len(prompts)


def test_loglikelihood_is_refused() -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "unused")
    with pytest.raises(UserError, match="log-probabilities"):
        backend.loglikelihood([Loglikelihood("a", " b")], lambda idx, out: None)
    with pytest.raises(UserError, match="log-probabilities"):
        backend.loglikelihood_rolling([], lambda idx, out: None)
