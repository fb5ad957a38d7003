"""The app factory: ``create_app(settings)`` wires the routes, auth, jobs, metrics and request log."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from industry_expert.config import Settings
from industry_expert.errors import ExpertError
from industry_expert.serve.backend import open_state
from industry_expert.serve.errors import APIError, error_body, expert_status
from industry_expert.serve.state import State

log = logging.getLogger("industry_expert.serve")
CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"


def create_app(settings: Settings, state: State | None = None) -> FastAPI:
    """A FastAPI app serving ``settings.serve``; models load in the background after start-up
    (``/readyz`` says when), unfinished jobs of an earlier process are resumed or reported."""
    from industry_expert import __version__
    from industry_expert.serve import routes_kbs, routes_openai, routes_ops
    from industry_expert.serve.guard import Guard
    from industry_expert.serve.jobs import Jobs
    from industry_expert.serve.observe import Metrics, ObserveMiddleware, RequestLog
    from industry_expert.serve.runtime import Runtime

    s = settings.serve
    rt = Runtime(settings, state or open_state(s.state_dir, s.state_url))
    rt.metrics, rt.jobs, rt.error = Metrics(), Jobs(rt), None
    for worker in rt.workers.values():
        worker.on_depth = rt.metrics.queue.labels(model=worker.name).set
        worker.on_depth(0)
    rt.request_log = RequestLog(s.request_log or s.state_dir / "requests.jsonl")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settled = rt.jobs.recover()
        if settled["resumed"] or settled["interrupted"]:
            log.warning("jobs after restart: %s", settled)
        rt.jobs.start()
        rt.drain.watch()
        threading.Thread(target=_load, args=(rt,), name="load-models", daemon=True).start()
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, rt.jobs.shutdown)
            rt.close()
            rt.request_log.close()
            rt.metrics.close()

    app = FastAPI(
        title="industry-expert",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = rt
    for module in (routes_ops, routes_openai, routes_kbs):
        app.include_router(module.router)
    _errors(app)
    app.add_middleware(Guard, runtime=rt)  # innermost: host, key and body size before any route
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(ObserveMiddleware, metrics=rt.metrics, log=rt.request_log)
    if importlib.util.find_spec("industry_expert.serve.routes_web") is not None:
        from industry_expert.serve.routes_web import add_web

        add_web(app)
    return app


def _load(rt: Any) -> None:
    try:
        rt.load()
    except Exception as exc:  # noqa: BLE001 - reported by /readyz, the process stays up
        rt.error = f"{exc.__class__.__name__}: {exc}"
        log.error("loading failed: %s", rt.error)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid")
        return JSONResponse(error_body(400, "invalid_request", message), 400)

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ExpertError)  # a handler of its own: the request log sees its status
    async def expert(_: Request, exc: ExpertError) -> JSONResponse:
        status, code = expert_status(exc)
        return JSONResponse(error_body(status, code, str(exc)), status)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body(500, "internal_error", "internal server error"), 500)


class _SecurityHeaders:
    """nosniff and a strict Content-Security-Policy on every response that sets none itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped if scope["type"] == "http" else send)


def route_table(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, included routers flattened (the access-matrix test
    walks this, so a new route cannot escape it)."""
    out: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI's lazily included router
                walk(r.original_router.routes, prefix + getattr(r.include_context, "prefix", ""))
            elif hasattr(r, "methods") and r.methods:
                out.extend((m, prefix + r.path) for m in sorted(r.methods) if m != "HEAD")
            elif hasattr(r, "routes"):  # a mounted sub-app or router
                walk(r.routes, prefix + getattr(r, "path", ""))

    walk(list(app.routes), "")
    return out
