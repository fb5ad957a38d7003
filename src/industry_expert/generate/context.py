"""Fitting retrieved passages into the prompt: the context budget, the exact messages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from industry_expert.config import AnswerSettings
from industry_expert.generate.prompts import format_passage, rag_messages
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import Generator
from industry_expert.text import split_sentences
from industry_expert.types import Hit

OnToken = Callable[[str], None]
"""Receives the model's raw text as it is generated."""


def fit_passages(gen: Generator, question: str, hits: list[Hit], budget: int) -> list[str]:
    """Formatted passages, best first, as many as fit in ``budget`` tokens (see ``fit_hits``)."""
    return fit_hits(gen, question, hits, budget)[1]


def fit_hits(gen: Generator, question: str, hits: list[Hit], budget: int) -> tuple[list[Hit], list[str]]:
    """The hits shown and their formatted passages (numbered 1..n in that order), best first. A
    passage that does not fit whole is skipped and the next ones are tried, so one oversized
    passage cannot crowd the others out; only when none fits is the best one cut at sentences."""
    used_hits: list[Hit] = []
    out: list[str] = []
    used = gen.count_tokens(gen.render(rag_messages(question, [])))
    for hit in hits:
        text = format_passage(len(out) + 1, hit)
        cost = gen.count_tokens(text) + 2
        if used + cost <= budget:
            used_hits.append(hit)
            out.append(text)
            used += cost
    if out or not hits:
        return used_hits, out
    kept: list[str] = []
    for sentence in split_sentences(hits[0].text):
        if used + gen.count_tokens(format_passage(1, hits[0], " ".join([*kept, sentence]))) + 2 > budget:
            break
        kept.append(sentence)
    return ([hits[0]], [format_passage(1, hits[0], " ".join(kept))]) if kept else ([], [])


def relevance_of(kb: KnowledgeBase, query_vector: np.ndarray, hits: list[Hit]) -> float:
    """The best cosine similarity between the query and a retrieved passage."""
    if not hits:
        return 0.0
    return float(np.max(kb.store.vectors([h.chunk_id for h in hits]) @ query_vector))


def prompt_budget(gen: Generator, s: AnswerSettings) -> int:
    """Tokens the prompt may take: the model's window less the answer (and a margin), capped by
    ``context_tokens``."""
    budget = gen.context_window - s.max_tokens - 16
    return min(budget, s.context_tokens) if s.context_tokens else budget


def prepare(
    gen: Generator, question: str, hits: list[Hit], s: AnswerSettings
) -> tuple[list[Hit], list[dict[str, str]], str]:
    """The passages that fit the context budget, the messages and the exact prompt."""
    shown, passages = fit_hits(gen, question, hits, prompt_budget(gen, s))
    messages = rag_messages(question, passages, s.sentences)
    return shown, messages, gen.render(messages)
