"""``expert serve``: an OpenAI-compatible HTTP API over the library (thin routes, one module per
resource), with per-KB keys, durable ingest jobs and a bounded generation queue."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from industry_expert.serve.app import create_app

        return create_app
    raise AttributeError(name)
