"""Answering: retrieve -> fit passages into the context budget -> generate -> check citations.
``ask`` returns the final answer of ``generate.stream.stream_answer``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from industry_expert.config import AnswerSettings, RetrieveSettings
from industry_expert.generate.context import OnToken, fit_hits, fit_passages, prepare, relevance_of
from industry_expert.generate.stream import stream_answer, stream_from_passages
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import Generator
from industry_expert.store.base import Filters
from industry_expert.types import Answer, Hit

__all__ = [
    "AskSettings",
    "OnToken",
    "answer_from_passages",
    "ask",
    "fit_hits",
    "fit_passages",
    "prepare",
    "relevance_of",
]

AskSettings = AnswerSettings
"""The former name of :class:`industry_expert.config.AnswerSettings` (kept for callers)."""


def _last(events: Iterator[Any]) -> Answer:
    answer = None
    for event in events:
        answer = getattr(event, "answer", answer)
    assert answer is not None
    return answer


def answer_from_passages(
    question: str,
    hits: list[Hit],
    gen: Generator,
    s: AskSettings,
    on_token: OnToken | None = None,
    timings: dict[str, float] | None = None,
    relevance: float = 1.0,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> Answer:
    """Answer from given passages (best first); ``embed`` enables the extractive fallback."""
    return _last(stream_from_passages(question, hits, gen, s, relevance, embed, timings, on_token))


def ask(
    question: str,
    kb: str | os.PathLike[str] | KnowledgeBase | None = None,
    model: str | Generator | None = None,
    adapter: str | None = None,
    settings: AskSettings | None = None,
    filters: Filters | None = None,
    on_token: OnToken | None = None,
    query: str | None = None,
    retrieval: RetrieveSettings | None = None,
) -> Answer:
    """Answer a question from the KB's passages (or from the model alone when ``kb`` is None):
    the final answer of ``generate.stream.stream_answer``; ``on_token`` sees the raw model text."""
    events = stream_answer(question, kb, model, adapter, settings, filters, query, on_token, retrieval)
    return _last(events)
