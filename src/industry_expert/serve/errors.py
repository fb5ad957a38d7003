"""Errors in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""

from __future__ import annotations

from typing import Any

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """Raised by routes and dependencies; rendered by :func:`error_body`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def api_error(status: int, code: str, message: str, retry_after: float | None = None) -> APIError:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else None
    return APIError(status, code, message, headers)


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": TYPES.get(status, "server_error"), "code": code}}


def not_found(what: str) -> APIError:
    return api_error(404, "not_found", f"{what} not found")
