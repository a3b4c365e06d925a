"""A loopback OpenAI-compatible server backed by a REAL model that returns ``logprobs``.

``transformers serve`` gives no log-probabilities, so the judge client's choice path needs another
server to be tested against a model: this one renders the messages with the checkpoint's chat
template (generation prompt added), runs one forward pass and answers one token, the most likely,
with its ``top_logprobs`` (the ``top_logprobs`` most likely first tokens, in OpenAI's response
shape: ``choices[0].logprobs.content[0].top_logprobs = [{token, logprob, bytes}]``). A token's text
is its decoded string (``" A"`` for the byte-level ``ĠA``). It counts the chat requests it answered.
Only what a one-token judge call needs is served: ``GET /v1/models`` and ``POST /v1/chat/completions``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class LogprobEndpoint:
    def __init__(self, model_dir: Path, model_id: str = "tiny-judge"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.model_id = model_id
        self.chat_requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # one forward pass at a time: the counts and the model are shared
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, {"error": {"message": "not found"}})
                self._send(200, {"object": "list", "data": [{"id": endpoint.model_id, "object": "model",
                                                             "created": 0, "owned_by": "evalkit-tests"}]})

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.chat_requests += 1
                    endpoint.bodies.append(body)
                    top = endpoint.first_token_top(body["messages"], int(body.get("top_logprobs") or 1))
                choice: dict[str, Any] = {"index": 0, "finish_reason": "length",
                                          "message": {"role": "assistant", "content": top[0]["token"]}}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [choice]})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The token ids the model sees: the chat template's rendering, ready for the assistant's turn."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def first_token_top(self, messages: list[dict[str, str]], k: int) -> list[dict[str, Any]]:
        """The ``k`` most likely first tokens with their log-probabilities, most likely first."""
        import torch

        with torch.no_grad():
            logits = self.model(torch.tensor([self.prompt_ids(messages)])).logits[0, -1]
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        values, ids = torch.topk(logprobs, k)
        out = []
        for value, token_id in zip(values.tolist(), ids.tolist()):
            token = str(self.tokenizer.decode([token_id], clean_up_tokenization_spaces=False))
            out.append({"token": token, "logprob": value, "bytes": list(token.encode("utf-8"))})
        return out

    def __enter__(self) -> LogprobEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
