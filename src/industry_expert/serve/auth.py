"""API keys: random 256-bit tokens, stored only as SHA-256 digests, compared in constant time;
scopes ``read``/``write`` per KB or ``admin``; expiry, revocation and a per-key rate limit."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from industry_expert.errors import ConfigError
from industry_expert.serve.errors import api_error
from industry_expert.serve.state import KeyRecord, KeyStore

PREFIX = "ie_"
SCOPES = ("read", "write")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_DURATION = re.compile(r"^(\d+)\s*([mhdwy])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 32 random bytes = 256 bits


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_id(record: KeyRecord) -> str:
    """A key's id: one key, never reused by a later key of the same name; derived from the
    stored digest, from which neither the token nor the digest can be recovered."""
    return "key_" + hashlib.sha256(b"key-id:" + record.digest.encode()).hexdigest()[:24]


def parse_expires(text: str | None, now: float | None = None) -> float | None:
    """``90d``, ``12h``, ``2w``, ``1y`` (from now) -> a timestamp; None/'' -> never."""
    if not text:
        return None
    m = _DURATION.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ConfigError(f"--expires: '{text}' is not a duration like 90d, 12h, 2w or 1y")
    return (time.time() if now is None else now) + int(m.group(1)) * _UNIT_S[m.group(2)]


def parse_scopes(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["kestrel:read", "manuals:write"]`` -> ``{"kestrel": "read", "manuals": "write"}``."""
    scopes: dict[str, str] = {}
    for item in items:
        kb, sep, scope = item.rpartition(":")
        if not sep or not kb or scope not in SCOPES:
            raise ConfigError(f"--kb '{item}': expected KB:read or KB:write")
        if scopes.get(kb) != "write":
            scopes[kb] = scope
    return scopes


def create_key(
    store: KeyStore, name: str, scopes: dict[str, str], admin: bool = False, expires: float | None = None
) -> tuple[str, KeyRecord]:
    """Create and store a key; returns the token (shown once, never stored) and its record."""
    if not _NAME.match(name):
        raise ConfigError(f"key name '{name}': use letters, digits and . _ @ - (at most 64)")
    if not scopes and not admin:
        raise ConfigError("a key needs at least one --kb NAME:read|write scope or --admin")
    token = new_token()
    record = KeyRecord(name, digest(token), scopes, admin, expires=expires)
    store.add_key(record)
    return token, record


@dataclass
class Principal:
    """Who is calling: a key's name and what it may touch."""

    name: str
    admin: bool = False
    scopes: dict[str, str] = field(default_factory=dict)
    expires: float | None = None
    id: str = ""
    """The key's :func:`key_id` (``anonymous`` when no key exists)."""

    def can(self, kb: str, need: str = "read") -> bool:
        if self.admin:
            return True
        have = self.scopes.get(kb)
        return have == "write" if need == "write" else have in SCOPES

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.admin, "scopes": self.scopes, "expires": self.expires}


ANONYMOUS = Principal("anonymous", admin=True, id="anonymous")
"""The caller when no key exists and the server binds loopback (or runs --insecure-no-auth)."""


def authenticate(store: KeyStore, header: str | None, now: float | None = None) -> Principal:
    """The principal for an ``Authorization: Bearer <key>`` header, or a 401 APIError."""
    if not store.any_keys():
        return ANONYMOUS
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    wanted = digest(token)
    record = store.key_by_digest(wanted)
    # the lookup is by digest (not by the secret); the final comparison is constant-time anyway
    if record is None or not hmac.compare_digest(record.digest, wanted):
        raise _unauthorized("invalid API key")
    if record.revoked is not None:
        raise _unauthorized("this API key has been revoked")
    if record.expires is not None and record.expires <= (time.time() if now is None else now):
        raise _unauthorized("this API key has expired")
    return principal_of(record)


def principal_of(record: KeyRecord) -> Principal:
    return Principal(record.name, record.admin, dict(record.scopes), record.expires, key_id(record))


def usable(record: KeyRecord, now: float | None = None) -> bool:
    """Neither revoked nor expired."""
    now = time.time() if now is None else now
    return record.revoked is None and (record.expires is None or record.expires > now)


def _unauthorized(message: str) -> Exception:
    err = api_error(401, "invalid_api_key", message)
    err.headers["WWW-Authenticate"] = "Bearer"
    return err


def require_key(request: Request) -> Principal:
    """FastAPI dependency: authenticate, apply the per-key rate limit, remember the key's name."""
    rt = request.app.state.runtime
    principal = getattr(request.state, "principal", None)  # the guard checked it before the body
    if principal is None:
        principal = authenticate(rt.state, request.headers.get("authorization"))
    request.state.key_name = principal.name
    limit = rt.settings.rate_limit_per_minute
    if limit > 0:
        wait = rt.state.hit(principal.name, limit)
        if wait is not None:
            raise api_error(429, "rate_limited", f"rate limit of {limit} requests per minute", wait)
    return principal


Key = Annotated[Principal, Depends(require_key)]
"""A route parameter ``principal: Key`` authenticates the request (401/429 otherwise)."""
