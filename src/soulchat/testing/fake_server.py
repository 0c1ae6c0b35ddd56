"""A loopback server that speaks the OpenAI HTTP API, for tests and benchmarks.

The real `openai` client (and any other HTTP client) talks to it over TCP on 127.0.0.1, so retries,
timeouts, rate-limit headers and streaming are exercised for real, not patched. What it answers is
decided by a `responder(request) -> Reply | str` function; every request is recorded.

    with FakeOpenAIServer(lambda request: "用户：你好\\n心理咨询师：你好呀") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")

Endpoints: `POST /v1/chat/completions` (plain and `stream=true`), `GET /v1/models`, and the Batch
API subset `POST /v1/files`, `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches/{id}`
(a batch completes at once: each line goes through the responder; failed lines go to an error file).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    """What the fake server answers to one request."""

    content: str = "好的。"
    status: int = 200
    finish_reason: str = "stop"
    delay: float = 0.0  # seconds before answering (latency)
    interval: float = 0.0  # seconds between two streamed pieces (a model generating)
    hang: bool = False  # never answer in time (the client's timeout fires); released by stop()
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after-ms": "50"}
    error_type: str | None = None  # e.g. "insufficient_quota", "rate_limit_exceeded"
    error_message: str = "error"
    model: str | None = None  # returned model name (default: the requested one)
    usage: dict[str, int] | None = None  # default: characters of prompt and reply
    #: sent instead of a completion, for malformed answers: a dict or list goes out as JSON (as one
    #: event when streaming), bytes as they are with a text/html content type
    body: Any = None


Responder = Callable[[dict[str, Any]], "Reply | str"]


def _default_responder(request: dict[str, Any]) -> Reply:
    return Reply()


class FakeOpenAIServer:
    def __init__(self, responder: Responder | None = None, host: str = "127.0.0.1", port: int = 0):
        self.responder = responder or _default_responder
        self.requests: list[dict[str, Any]] = []  # chat request bodies, in arrival order
        self.aborted: list[dict[str, Any]] = []  # streamed requests whose client left before the end
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- behaviour --------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-{next(self._ids)}"

    def _reply_for(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
        reply = self.responder(body)
        return Reply(content=reply) if isinstance(reply, str) else reply

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        return {
            "id": self._next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": reply.usage
            or {
                "prompt_tokens": prompt,
                "completion_tokens": len(reply.content),
                "total_tokens": prompt + len(reply.content),
            },
        }

    @staticmethod
    def _error_body(reply: Reply) -> dict[str, Any]:
        return {
            "error": {
                "message": reply.error_message,
                "type": reply.error_type or "server_error",
                "code": reply.error_type,
                "param": None,
            }
        }

    def _run_batch(self, batch_id: str, input_file_id: str) -> None:
        outputs, errors = [], []
        for line in self.files[input_file_id].decode("utf-8").splitlines():
            if not line.strip():
                continue
            request = json.loads(line)
            reply = self._reply_for(request["body"])
            if reply.status == 200:
                body = reply.body if reply.body is not None else self._completion(request["body"], reply)
                response = {"status_code": 200, "request_id": self._next_id("req"), "body": body}
                outputs.append({"id": self._next_id("batch_req"), "custom_id": request["custom_id"],
                                "response": response, "error": None})
            else:
                errors.append({"id": self._next_id("batch_req"), "custom_id": request["custom_id"],
                               "response": {"status_code": reply.status, "body": self._error_body(reply)},
                               "error": None})
        batch = self.batches[batch_id]
        for key, rows in (("output_file_id", outputs), ("error_file_id", errors)):
            if rows:
                file_id = self._next_id("file")
                self.files[file_id] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
                batch[key] = file_id
        batch["status"] = "completed"
        batch["request_counts"] = {"total": len(outputs) + len(errors), "completed": len(outputs),
                                   "failed": len(errors)}

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small replies would wait ~40 ms for Nagle's algorithm

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _read_body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/v1/models":
                    self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                elif match := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                    data = server.files.get(match[1])
                    if data is None:
                        self._send_json(404, {"error": {"message": "no such file", "type": "invalid_request_error"}})
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif match := re.fullmatch(r"/v1/batches/([\w-]+)", path):
                    batch = server.batches.get(match[1])
                    self._send_json(200 if batch else 404, batch or {"error": {"message": "no such batch"}})
                else:
                    self._send_json(404, {"error": {"message": f"no route {path}"}})

            def do_POST(self) -> None:
                path = self.path.split("?")[0]
                body = self._read_body()
                if path == "/v1/chat/completions":
                    self._chat(json.loads(body))
                elif path == "/v1/files":
                    file_id = server._next_id("file")
                    server.files[file_id] = _multipart_file(self.headers.get("Content-Type", ""), body)
                    self._send_json(200, {"id": file_id, "object": "file", "bytes": len(server.files[file_id]),
                                          "purpose": "batch", "filename": "input.jsonl",
                                          "created_at": int(time.time()), "status": "processed"})
                elif path == "/v1/batches":
                    request = json.loads(body)
                    batch_id = server._next_id("batch")
                    server.batches[batch_id] = {
                        "id": batch_id, "object": "batch", "endpoint": request.get("endpoint"),
                        "input_file_id": request["input_file_id"], "completion_window": "24h",
                        "status": "in_progress", "created_at": int(time.time()),
                        "output_file_id": None, "error_file_id": None,
                    }
                    self._send_json(200, dict(server.batches[batch_id]))
                    server._run_batch(batch_id, request["input_file_id"])
                else:
                    self._send_json(404, {"error": {"message": f"no route {path}"}})

            def _chat(self, body: dict[str, Any]) -> None:
                reply = server._reply_for(body)
                if reply.hang:
                    server._stopping.wait(600)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._send_json(reply.status, server._error_body(reply), reply.headers)
                    return
                if reply.body is not None:
                    self._send_body(reply, stream=bool(body.get("stream")))
                    return
                completion = server._completion(body, reply)
                if not body.get("stream"):
                    self._send_json(200, completion, reply.headers)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
                pieces = list(reply.content) or [""]
                try:
                    for index, piece in enumerate(pieces):
                        if index and reply.interval:
                            time.sleep(reply.interval)
                        last = index == len(pieces) - 1
                        chunk = base | {"choices": [{"index": 0, "delta": {"content": piece},
                                                     "finish_reason": reply.finish_reason if last else None}]}
                        self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with server._lock:
                        server.aborted.append(body)
                self.close_connection = True

            def _send_body(self, reply: Reply, stream: bool) -> None:
                if isinstance(reply.body, bytes):
                    data, kind = reply.body, "text/html"
                elif stream:
                    data = f"data: {json.dumps(reply.body, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode()
                    kind = "text/event-stream"
                else:
                    data, kind = json.dumps(reply.body, ensure_ascii=False).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open a hundred connections at once (default backlog: 5)


def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The file part of a multipart/form-data upload (what `client.files.create` sends)."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not match:
        return body
    boundary = b"--" + match[1].encode()
    for part in body.split(boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data[: -2] if data.endswith(b"\r\n") else data
    return b""
