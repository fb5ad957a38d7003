"""Every request as one JSON line (time, key name, route, KB, status, latency, tokens; never the
key) and Prometheus metrics (requests and latency by route and status, tokens, queue depth, jobs).

With several workers (``serve.workers``) the server sets ``PROMETHEUS_MULTIPROC_DIR`` before they
start: each worker writes its values to files there and ``/metrics``, whichever worker answers,
reports the whole server (counters and histograms summed over the workers, dead ones included;
queue depth summed over the live ones; jobs as last counted from the shared state)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.shared = bool(os.environ.get(MULTIPROC_ENV))
        """Values live in files shared by the workers (prometheus-client's multiprocess mode)."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ie_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "ie_request_seconds",
            "HTTP request latency (streams: until the last byte)",
            ["route", "status"],
            buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.tokens = Counter("ie_tokens_generated", "Completion tokens generated", ["model"], registry=r)
        self.cancelled = Counter(
            "ie_generations_cancelled",
            "Generations stopped because the client went away",
            ["model"],
            registry=r,
        )
        self.queue = Gauge(
            "ie_queue_depth",
            "Chat requests generating or waiting, per model",
            ["model"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.jobs = Gauge(
            "ie_jobs", "Ingest jobs by state", ["state"], registry=r, multiprocess_mode="mostrecent"
        )

    def render(self, runtime: Any) -> bytes:
        from industry_expert.serve.state import JOB_STATES

        counts = runtime.state.job_counts()  # the state is shared: any worker counts them all
        for state in JOB_STATES:
            self.jobs.labels(state=state).set(counts.get(state, 0))
        if not self.shared:
            return generate_latest(self.registry)  # type: ignore[no-any-return]
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)  # type: ignore[no-any-return]

    def close(self) -> None:
        """A worker that stops leaves its counters in the sum but not its queue depth."""
        if self.shared:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


class RequestLog:
    """Appends JSON lines to a file (thread-safe)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class ObserveMiddleware:
    """Pure ASGI middleware (it sees a stream's end, not just its start)."""

    def __init__(self, app: Any, metrics: Metrics, log: RequestLog) -> None:
        self.app, self.metrics, self.log = app, metrics, log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": 500}

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            self._record(scope, status["code"], time.perf_counter() - t0)

    def _record(self, scope: dict[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        state = scope.get("state") or {}
        status = state.get("error_status") or status  # a stream that ended with an error event
        self.metrics.requests.labels(route=route, method=scope["method"], status=str(status)).inc()
        self.metrics.latency.labels(route=route, status=str(status)).observe(seconds)
        self.log.write(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                + f".{int(time.time() * 1000) % 1000:03d}Z",
                "key": state.get("key_name"),
                "method": scope["method"],
                "route": route,
                "kb": state.get("kb"),
                "status": status,
                "latency_ms": round(seconds * 1000, 1),
                "tokens": state.get("tokens"),
            }
        )
