"""A tiny OpenAI-compatible chat server on 127.0.0.1 that misbehaves on purpose.

Each base URL carries a *script*: comma-separated behaviours, one per request to that URL
(the last one repeats). ``server.url("500,429,ok")`` fails twice, then answers; a ``#tag``
suffix (``"500,ok#test2"``) gives an equal script its own request counter. Behaviours:

=============  ==========================================================================
``ok``         a valid completion (streamed when the request asks ``"stream": true``)
``500`` etc.   that HTTP status with an OpenAI-style error body (any 3-digit code)
``429``        rate limited, with ``Retry-After: <retry_after>``
``timeout``    waits ``delay_s`` before answering (longer than the client's timeout)
``cut``        a stream (or body) cut in the middle: the connection closes mid-response
``malformed``  HTTP 200 whose JSON (or SSE data line) is broken
``nodone``     a stream that ends cleanly at the HTTP level but without finish or [DONE]
=============  ==========================================================================

Every request is recorded (path, headers, JSON body) in :attr:`FaultServer.requests`.
Standard library only (``http.server``); bound to loopback, never to other interfaces.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

DEFAULT_REPLY = "Hello from the fault server."


@dataclass(slots=True)
class RecordedRequest:
    script: str
    index: int
    behaviour: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass(slots=True)
class _State:
    counters: dict[str, int] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # ------------------------------------------------------------------ helpers

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass

    # ------------------------------------------------------------------ routing

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        match = re.fullmatch(r"/([^/]*)/v1/chat/completions", self.path.split("?")[0])
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if match is None:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        script = unquote(match.group(1))
        steps = [s.strip() for s in script.split("#")[0].split(",") if s.strip()] or ["ok"]
        state = self.server.state
        with state.lock:
            index = state.counters.get(script, 0)
            state.counters[script] = index + 1
        behaviour = steps[min(index, len(steps) - 1)]
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        with state.lock:
            state.requests.append(
                RecordedRequest(script, index, behaviour, self.path, dict(self.headers), body)
            )
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "request body is not a JSON object"}})
            return
        try:
            self._behave(behaviour, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _behave(self, behaviour: str, body: dict[str, Any]) -> None:
        srv = self.server
        if behaviour == "timeout":
            srv.stopping.wait(srv.delay_s)
            behaviour = "ok"
        if re.fullmatch(r"\d{3}", behaviour):
            status = int(behaviour)
            headers = {"Retry-After": srv.retry_after} if status in (429, 503) else {}
            self._send_json(
                status, {"error": {"message": f"injected HTTP {status}", "code": status}}, headers
            )
            return
        stream = bool(body.get("stream"))
        if behaviour == "malformed" and not stream:
            data = b'{"id": "x", "choices": [{"message": {"content": "broken'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if behaviour == "cut" and not stream:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"id": "x", "choices": [')
            self._abort()
            return
        reply = srv.reply(body) if callable(srv.reply) else srv.reply
        words = _words(reply)
        max_tokens = int(body.get("max_tokens") or 10_000)
        finish = "length" if len(words) > max_tokens else "stop"
        words = words[:max_tokens]
        prompt_tokens = sum(len(str(m.get("content", "")).split()) + 3 for m in body["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        logprobs = bool(body.get("logprobs"))
        model = str(body.get("model", "fault"))
        if not stream:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(words)},
                "finish_reason": finish,
            }
            if logprobs:
                choice["logprobs"] = {"content": [{"token": w, "logprob": -0.5} for w in words]}
            self._send_json(
                200,
                {
                    "id": "chatcmpl-fault",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, **extra}
            chunk = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "model": model}
            return "data: " + json.dumps({**chunk, "choices": [choice]}) + "\n\n"

        self._chunk(event({"role": "assistant"}))
        for i, word in enumerate(words):
            if behaviour == "cut" and i == max(1, len(words) // 2):
                self._abort()
                return
            if behaviour == "malformed" and i == max(1, len(words) // 2):
                self._chunk('data: {"choices": [{"delta": {"content": "oops\n\n')
                continue
            extra = (
                {"logprobs": {"content": [{"token": word, "logprob": -0.5}]}} if logprobs else {}
            )
            self._chunk(event({"content": word}, **extra))
            if srv.token_delay_s:
                time.sleep(srv.token_delay_s)
        if behaviour == "nodone":
            self._chunk("")  # terminating chunk: a clean HTTP end, but no finish/[DONE]
            return
        self._chunk(event({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            tail = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "choices": []}
            self._chunk("data: " + json.dumps({**tail, "usage": usage}) + "\n\n")
        self._chunk("data: [DONE]\n\n")
        self._chunk("")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FaultServer) -> None:
        self.state = _State()
        self.stopping = threading.Event()
        self.reply: str | Callable[[dict[str, Any]], str] = owner.reply
        self.delay_s = owner.delay_s
        self.retry_after = owner.retry_after
        self.token_delay_s = owner.token_delay_s
        super().__init__(("127.0.0.1", 0), _Handler)


class FaultServer:
    """Start with ``with FaultServer() as server:``; point a client at ``server.url(script)``.

    ``reply`` is the assistant text (or a function of the request body returning it);
    ``delay_s`` is how long ``timeout`` stalls; ``retry_after`` the header a 429 carries.
    """

    def __init__(
        self,
        *,
        reply: str | Callable[[dict[str, Any]], str] = DEFAULT_REPLY,
        delay_s: float = 5.0,
        retry_after: str = "1",
        token_delay_s: float = 0.0,
    ) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.retry_after = retry_after
        self.token_delay_s = token_delay_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FaultServer:
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fault-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fault server is not running")
        return int(self._server.server_address[1])

    def url(self, script: str = "ok") -> str:
        """Base URL (ending in ``/v1``) whose requests follow ``script``."""
        return f"http://127.0.0.1:{self.port}/{quote(script, safe=',')}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._server.state.requests) if self._server else []

    def hits(self, script: str) -> int:
        """How many requests the URL of ``script`` received."""
        return self._server.state.counters.get(script, 0) if self._server else 0

    def set_reply(self, reply: str | Callable[[dict[str, Any]], str]) -> None:
        self.reply = reply
        if self._server is not None:
            self._server.reply = reply


__all__ = ["DEFAULT_REPLY", "FaultServer", "RecordedRequest"]
