"""A FAKE OpenAI-compatible HTTP server, for tests only: it plays scripted responses (rate limits,
server errors, Azure-style chunks, malformed SSE, hung connections) that a real local server cannot
be made to produce on demand. It is a real HTTP server on 127.0.0.1, so the client under test runs
its whole network path; the behaviour of a real model server is tested against llama.cpp's server
(``industry_expert.testing.llama_server``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted response. ``events``: SSE ``data:`` payloads (dicts are JSON-encoded, strings
    sent as they are) followed by ``data: [DONE]``; ``hang_after``: stop sending (and hold the
    connection open) after this many events, or before the headers when 0 and ``events`` is empty."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    events: list[Any] | None = None
    hang_after: int | None = None


def chat_chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice carrying ``text``."""
    delta = {"role": "assistant", "content": text} if text is not None else {}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def azure_filter_chunk() -> dict[str, Any]:
    """What Azure OpenAI sends first: prompt content-filter results and an empty ``choices``."""
    return {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "choices": [],
    }


def embeddings_body(vectors: list[list[float]]) -> dict[str, Any]:
    return {
        "object": "list",
        "model": "fake",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


class FakeOpenAIServer:
    """Serves ``replies`` in order (the last one repeats); records each request's path, JSON body
    and arrival time in ``requests``."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, dict[str, Any], float]] = []
        self.release = threading.Event()  # set on shutdown: hung handlers return
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def _next(self, path: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append((path, body, time.monotonic()))
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server._play(self, server._next(self.path, body))

        return Handler

    def _play(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.hang_after == 0 and reply.events is None:
            self.release.wait(30)
            return
        h.send_response(reply.status)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        if reply.events is None:
            data = json.dumps(reply.body if reply.body is not None else {}).encode()
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        for i, event in enumerate(reply.events):
            if reply.hang_after is not None and i >= reply.hang_after:
                h.wfile.flush()
                self.release.wait(30)
                return
            payload = event if isinstance(event, str) else json.dumps(event)
            h.wfile.write(f"data: {payload}\n\n".encode())
            h.wfile.flush()
        h.wfile.write(b"data: [DONE]\n\n")
        h.close_connection = True

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests (the client's retry waits)."""
        times = [t for _, _, t in self.requests]
        return [b - a for a, b in zip(times, times[1:])]


@contextmanager
def fake_openai_server(replies: list[Reply]) -> Iterator[FakeOpenAIServer]:
    """Start the fake on 127.0.0.1 (a free port); stop it, and free hung handlers, on exit."""
    server = FakeOpenAIServer(replies)
    thread = threading.Thread(target=server._httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server._httpd.shutdown()
        server._httpd.server_close()
        thread.join(5)
