"""Errors in OpenAI's shape: ``{"error": {"message", "type", "code"}}``."""

from __future__ import annotations

from typing import Any

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
"""OpenAI's error type by status; any other 4xx is ``invalid_request_error``, any 5xx ``server_error``."""


def error_type(status: int) -> str:
    return TYPES.get(status) or ("invalid_request_error" if 400 <= status < 500 else "server_error")


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
    return {"error": {"message": message, "type": error_type(status), "code": code}}


def not_found(what: str) -> APIError:
    return api_error(404, "not_found", f"{what} not found")


def expert_status(exc: Exception) -> tuple[int, str]:
    """Status and code of a library error: a model that cannot be reached is the server's problem
    (502); any other :class:`~industry_expert.errors.ExpertError` is the request's (400)."""
    from industry_expert.errors import ModelError

    return (502, "model_error") if isinstance(exc, ModelError) else (400, "invalid_request")
