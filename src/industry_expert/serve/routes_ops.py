"""Operations: ``/healthz`` (alive), ``/readyz`` (models loaded, KBs open), ``/metrics``."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from industry_expert.serve.auth import authenticate
from industry_expert.serve.errors import APIError, api_error

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "pid": os.getpid()}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready or not, for anyone; which KBs and models (and why loading failed) only for a key
    (or anyone while no key exists), and only the KBs that key may read."""
    rt = request.app.state.runtime
    body: dict[str, Any] = {"ready": rt.ready}
    try:
        principal = authenticate(rt.state, request.headers.get("authorization"))
    except APIError:
        principal = None
    if principal is not None:
        body["kbs"] = sorted(name for name in rt.kbs if principal.can(name))
        body["models"] = sorted(rt.workers)
        if rt.error:
            body["error"] = rt.error
    elif rt.error:
        body["error"] = "loading failed (the server's log says why)"
    return JSONResponse(body, status_code=200 if rt.ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    rt = request.app.state.runtime
    if not rt.settings.metrics_public:
        principal = authenticate(rt.state, request.headers.get("authorization"))
        request.state.key_name = principal.name
        if not principal.admin:
            raise api_error(404, "not_found", "not found")
    return Response(rt.metrics.render(rt), media_type="text/plain; version=0.0.4; charset=utf-8")
