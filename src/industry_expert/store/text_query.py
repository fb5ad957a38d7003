"""Turn a user's question into a safe FTS5 query: terms OR-ed, stop words dropped."""

from __future__ import annotations

import re

_TERM = re.compile(r"\w[\w\-]*")
STOP_WORDS = frozenset("""
a about above after again all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no
nor not of off on once only or other our ours out over own same she should so some such than
that the their theirs them then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours
tell show give know need please much many
""".split())


def terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for raw in _TERM.findall(text.lower()):
        term = raw.strip("-_")
        if term and term not in STOP_WORDS:
            seen.setdefault(term, None)
    return list(seen)


def fts_query(text: str) -> str:
    """``"term1" OR "term2"``; empty when nothing searchable is left."""
    return " OR ".join(f'"{t}"' for t in terms(text))
