"""Multi-turn chat: follow-up questions become standalone retrieval queries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from industry_expert.generate.citations import content_words

_ANAPHORA = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|there|he|she|his|her|one|ones|same|"
    r"what about|how about|and the|also)\b",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b(?:[A-Z]{1,4}-\d[\w\-]*|[A-Z][a-z]+(?:\s[A-Z][a-z]+)*|\d[\d.,]*\s?\w+)\b")


def is_follow_up(question: str) -> bool:
    return bool(_ANAPHORA.search(question)) or len(content_words(question)) <= 2


def standalone_query(question: str, history: list[str]) -> str:
    """Add the previous question's key terms (codes, names, other content words) to a follow-up
    that leans on it; a self-contained question is returned unchanged."""
    if not history or not is_follow_up(question):
        return question
    previous = history[-1]
    have = content_words(question)
    entities = [e for e in _ENTITY.findall(previous) if not content_words(e) <= have]
    rest = [w for w in sorted(content_words(previous) - have) if not any(w in e.lower() for e in entities)]
    extra = list(dict.fromkeys(entities + rest))
    return f"{question} ({' '.join(extra)})" if extra else question


@dataclass
class ChatSession:
    """Keeps the user's questions; ``query_for`` rewrites a follow-up before retrieval."""

    questions: list[str] = field(default_factory=list)

    def query_for(self, question: str) -> str:
        query = standalone_query(question, self.questions)
        self.questions.append(query)
        return query
