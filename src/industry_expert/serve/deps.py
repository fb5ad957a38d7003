"""Helpers for routes (also used by the web page's routes)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from industry_expert.serve.auth import Principal
from industry_expert.serve.runtime import ServedKB


def served_kb(request: Request, principal: Principal, name: str, need: str = "read") -> ServedKB:
    """The KB ``name`` if the key may ``need`` it: 404 when invisible, 403 when only readable."""
    request.state.kb = name
    rt: Any = request.app.state.runtime
    return rt.kb_for(principal, name, need)  # type: ignore[no-any-return]
