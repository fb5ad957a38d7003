"""Extractive fallback: when no sentence of the model's answer passes the check, quote the passage
sentence that best answers the question, if one does ("The passage says: '...' [n]").

A candidate is one sentence (or table row) of a passage in the prompt. Its score is the mean of
two measures in [0, 1], the cosine similarity of question and sentence (the KB's embedder) and the
share of the question's content words found in the sentence or its section path, times the share
of the question's content words that the passages mention at all (a question about something the
passages never name, "the MTBF of the FS-3", "the price of ...", is not answered by a sentence
that merely names its subject). A sentence missing a code or number of the question (a token with
a digit, 'KF-340') scores 0. The threshold (``answer.extractive_threshold``) is chosen on the
sample company's questions and reported on held-out corpora: bench/answer_fallback.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from industry_expert.generate.citations import INSTRUCTION_LIKE, content_words
from industry_expert.text import split_sentences
from industry_expert.types import Hit

MIN_WORDS, MAX_WORDS = 4, 80


@dataclass
class Extract:
    n: int  # passage number in the prompt (1-based)
    quote: str
    score: float
    cosine: float
    overlap: float
    coverage: float = 1.0  # share of the question's content words the passages mention


def candidates(hits: list[Hit]) -> list[tuple[int, str]]:
    """(passage number, sentence) for every passage sentence or row of a quotable length."""
    out = []
    for n, hit in enumerate(hits, start=1):
        for line in hit.text.split("\n"):
            for unit in split_sentences(line):
                unit = " ".join(unit.split()).lstrip("-*\u2022 ")  # list markers are not text
                if INSTRUCTION_LIKE.search(unit) or unit.startswith("\u2026"):
                    continue  # a planted instruction is not an answer; a cut-off tail is no quote
                if MIN_WORDS <= len(unit.split()) <= MAX_WORDS:
                    out.append((n, unit))
    return out


def overlap(question: str, sentence: str, context: str = "") -> float:
    """Share of the question's content words in the sentence (or its section); 0 when a code or
    number of the question is missing from both."""
    asked = content_words(question)
    if not asked:
        return 0.0
    found = content_words(sentence) | content_words(context)
    coded = {w for w in asked if any(c.isdigit() for c in w)}
    if not coded <= found:
        return 0.0
    return len(asked & found) / len(asked)


def best_extract(question: str, hits: list[Hit], embed: Callable[[list[str]], np.ndarray]) -> Extract | None:
    """The best-scoring candidate sentence of ``hits`` (None when there is none)."""
    cands = candidates(hits)
    if not cands:
        return None
    vectors = embed([question] + [u for _, u in cands])
    cosines = vectors[1:] @ vectors[0]
    cover = coverage(question, hits)
    best: Extract | None = None
    for (n, unit), cos in zip(cands, cosines):
        hit = hits[n - 1]
        lex = overlap(question, unit, f"{hit.title} {hit.section}")
        score = (max(float(cos), 0.0) + lex) / 2 * cover if lex > 0 else 0.0
        if best is None or score > best.score:
            best = Extract(n, unit, score, float(cos), lex, cover)
    return best


def coverage(question: str, hits: list[Hit]) -> float:
    """Share of the question's content words that the passages (with titles, sections) mention."""
    asked = content_words(question)
    if not asked:
        return 0.0
    seen = set().union(*(content_words(f"{h.title} {h.section} {h.text}") for h in hits))
    return len(asked & seen) / len(asked)


def extractive_text(found: Extract) -> str:
    return f"The passage says: '{found.quote}' [{found.n}]"
