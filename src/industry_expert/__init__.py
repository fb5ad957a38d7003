"""industry-expert: turn a small language model into an expert on one company's business.

The public API imports lazily so that ``import industry_expert`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "ingest": "industry_expert.ingest.pipeline",
    "IngestReport": "industry_expert.ingest.pipeline",
    "search": "industry_expert.retrieve.hybrid",
    "KnowledgeBase": "industry_expert.kb",
    "Settings": "industry_expert.config",
    "AnswerSettings": "industry_expert.config",
    "RetrieveSettings": "industry_expert.config",
    "kb_stats": "industry_expert.api",
    "kb_remove": "industry_expert.api",
    "ask": "industry_expert.generate.grounded",
    "AskSettings": "industry_expert.generate.grounded",
    "load_generator": "industry_expert.models.generators",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'industry_expert' has no attribute {name!r}")
