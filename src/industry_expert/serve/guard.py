"""What every request passes before a route sees it (a pure ASGI middleware):

1. its ``Host``: while no key exists (everyone is admin) only loopback names, the bound address and
   ``serve.allowed_hosts`` are served, so a DNS-rebinding page cannot reach the API (421 otherwise);
2. its key, for the API (``/v1/...``, ``/web/api/...``), before a byte of the body is read (401);
3. its body, counted as it actually arrives (chunked or not): past the limit the request is
   answered 413 and the route reads nothing more. Uploads have their own, larger limit
   (``serve.max_upload_mb``); every other body at most :data:`MAX_JSON_BYTES`."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from industry_expert.serve.errors import APIError, error_body

MAX_JSON_BYTES = 1 << 20
"""Request bodies other than uploads: larger ones are refused (413) as soon as more arrives."""
KEYED = ("/v1/", "/web/api/")
"""Paths that need a key (when keys exist); checked before the body is read."""
UPLOAD = re.compile(r"^/v1/kbs/[^/]+/documents/?$")
WILDCARD = ("", "0.0.0.0", "::", "[::]")
DISCONNECT = {"type": "http.disconnect"}


def host_name(value: str) -> str:
    """``'LocalHost:8000'`` -> ``'localhost'``; ``'[::1]:80'`` -> ``'[::1]'``; no port kept."""
    v = value.strip().lower()
    if v.startswith("["):
        return v[: v.find("]") + 1] if "]" in v else v
    return v.rpartition(":")[0] if ":" in v else v


def is_loopback_name(name: str) -> bool:
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allowed(header: str | None, allowed: list[str], bound: str) -> bool:
    """A ``Host`` header a no-key server answers: a loopback name or address (any port), the
    address it is bound to (unless a wildcard), or one of ``allowed`` (``name`` or ``name:port``)."""
    if not header:
        return False
    name = host_name(header)
    if is_loopback_name(name):
        return True
    if bound.lower() not in WILDCARD and name in (bound.lower(), f"[{bound.lower()}]"):
        return True
    value = header.strip().lower()
    return any(a.strip().lower() in (name, value) for a in allowed)


def _reply(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status, headers=headers)


class Guard:
    """Host, key and body-size checks in front of the routes (see the module's docstring)."""

    def __init__(self, app: Any, runtime: Any) -> None:
        self.app, self.rt = app, runtime
        self._keys_seen = False  # keys are never deleted (only revoked): once seen, always there

    def _has_keys(self) -> bool:
        self._keys_seen = self._keys_seen or bool(self.rt.state.any_keys())
        return self._keys_seen

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, too_big = self._limit(scope)
        refusal = await run_in_threadpool(self._refusal, scope, limit, too_big)
        if refusal is not None:
            return await refusal(scope, receive, send)
        counted = _Counted(receive, send, limit)
        try:
            await self.app(scope, counted.receive, counted.send)
        except Exception:
            if not counted.refused:
                raise  # else: the route failed on the body it never got, which is refused below
        if counted.refused:  # after the route has cleaned up (an upload's partial files)
            await _reply(413, "payload_too_large", too_big)(scope, receive, send)

    def _limit(self, scope: dict[str, Any]) -> tuple[int, str]:
        if scope["method"] == "POST" and UPLOAD.match(scope["path"]):
            mb = self.rt.settings.max_upload_mb
            return int(mb * 1024 * 1024), f"upload is larger than serve.max_upload_mb ({mb:g} MB)"
        return MAX_JSON_BYTES, f"request body over {MAX_JSON_BYTES} bytes"

    def _refusal(self, scope: dict[str, Any], limit: int, too_big: str) -> JSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        keys = self._has_keys()
        s = self.rt.settings
        if not keys and not host_allowed(headers.get("host"), s.allowed_hosts, s.host):
            return _reply(
                421,
                "invalid_host",
                f"host {headers.get('host', '')!r} is not served: without API keys this server "
                "answers only loopback names and serve.allowed_hosts",
            )
        if scope["path"].startswith(KEYED):
            from industry_expert.serve.auth import authenticate

            try:
                principal = authenticate(self.rt.state, headers.get("authorization"))
            except APIError as exc:
                return _reply(exc.status, exc.code, exc.message, exc.headers)
            scope.setdefault("state", {})["principal"] = principal
        length = headers.get("content-length", "")
        if length.strip().isdigit() and int(length) > limit:
            return _reply(413, "payload_too_large", too_big)
        return None


class _Counted:
    """``receive``/``send`` of one request with its body bytes counted: past ``limit`` the route
    sees a disconnect, and its own answer is dropped (unless it had begun) for the guard's 413."""

    def __init__(self, receive: Any, send: Any, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.total, self.over, self.started = 0, False, False

    @property
    def refused(self) -> bool:
        return self.over and not self.started

    async def receive(self) -> dict[str, Any]:
        if self.over:
            return DISCONNECT
        message: dict[str, Any] = await self._receive()
        if message["type"] == "http.request":
            self.total += len(message.get("body", b""))
            if self.total > self.limit:
                self.over = True
                return DISCONNECT
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
