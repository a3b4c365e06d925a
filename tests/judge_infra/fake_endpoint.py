"""A FAKE OpenAI-compatible endpoint, for FAULT INJECTION ONLY: it is not a model and judges nothing.

Only a fake can answer 429 with ``Retry-After``, a 500, a garbage body, a response slower than the
client's timeout or a dropped connection on demand, and count exactly what it received. Each
request's faults are scripted per prompt (the last message's content), so counts stay exact under
concurrency; once a prompt's faults are spent, it is answered ``judged: <prompt>`` (with no
``logprobs``, as ``transformers serve`` answers, unless ``top_logprobs`` scripts the first token's list:
for the faults of the log-probability path). The real judge path is tested against ``transformers
serve`` (test_server.py), the log-probability path against a real model (logprob_endpoint.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Fault names a script may hold: "429" (with Retry-After: 1), "500", "503", "400", "401",
#: "garbage" (200, not JSON), "nochoices" (200, JSON without choices), "slow" (answers after
#: SLOW_S), "drop" (closes the connection without a response), "400-last" (a 400 sent only once every
#: other scripted prompt has arrived, up to 10 s: makes "fails while others are in flight" deterministic).
SLOW_S = 2.0


class FaultyEndpoint:
    def __init__(self, script: dict[str, list[str]] | None = None, always: str | None = None,
                 models: tuple[str, ...] = ("judge-model",), top_logprobs: list[tuple[str, float]] | None = None):
        self.top_logprobs = top_logprobs  # (token, logprob) pairs for the first token of every answer
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.always = always  # a fault for every chat request (never answers)
        self.models = models
        self.received: Counter[str] = Counter()  # chat requests per prompt
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, {"error": {"message": "not found"}})
                fault = endpoint.always if endpoint.always in ("401",) else None
                if fault:
                    return self._send(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                             "owned_by": "fake"} for m in endpoint.models]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with endpoint.lock:
                    endpoint.bodies.append(body)
                    endpoint.received[prompt] += 1
                    faults = endpoint.script.get(prompt, [])
                    fault = endpoint.always or (faults.pop(0) if faults else None)
                if fault == "400-last":
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and any(
                            endpoint.received[other] == 0 for other in endpoint.script if other != prompt):
                        time.sleep(0.01)
                    fault = "400"
                if fault in ("429", "500", "503", "400", "401"):
                    headers = {"Retry-After": "1"} if fault == "429" else {}
                    return self._send(int(fault), {"error": {"message": f"injected {fault}", "type": "x"}}, headers)
                if fault == "garbage":
                    return self._send_raw(200, b"<html>upstream hiccup", "application/json")
                if fault == "nochoices":
                    return self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                                            "model": body["model"], "choices": []})
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if fault == "slow":
                    time.sleep(SLOW_S)
                content = f"judged: {prompt}"
                choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": content}}
                if endpoint.top_logprobs:
                    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in endpoint.top_logprobs]
                    choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [choice]})

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _send_raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
