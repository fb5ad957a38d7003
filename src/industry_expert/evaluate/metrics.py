"""Retrieval metrics as pure functions over ranked source lists and gold sources."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


def source_matches(source: str, gold: str) -> bool:
    """A hit's source (path as ingested) matches a gold path given relative to the data folder."""
    s, g = source.replace("\\", "/"), gold.replace("\\", "/").lstrip("./")
    return s == g or s.endswith("/" + g)


def ranked_documents(sources: Sequence[str]) -> list[str]:
    """Hit sources with repeats removed (document-level ranking), order kept."""
    return list(dict.fromkeys(sources))


def first_relevant_rank(docs: Sequence[str], gold: Sequence[str]) -> int | None:
    for rank, doc in enumerate(docs, start=1):
        if any(source_matches(doc, g) for g in gold):
            return rank
    return None


def hit_at_k(docs: Sequence[str], gold: Sequence[str], k: int) -> float:
    rank = first_relevant_rank(docs[:k], gold)
    return 1.0 if rank is not None else 0.0


def reciprocal_rank(docs: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    rank = first_relevant_rank(docs[:k], gold)
    return 1.0 / rank if rank else 0.0


def recall_at_k(docs: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of gold documents found in the top k."""
    if not gold:
        return 0.0
    return sum(1 for g in gold if any(source_matches(d, g) for d in docs[:k])) / len(gold)


def ndcg_at_k(docs: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    """Binary-relevance nDCG; each gold document counts once."""
    found: set[str] = set()
    dcg = 0.0
    for rank, doc in enumerate(docs[:k], start=1):
        match = next((g for g in gold if source_matches(doc, g) and g not in found), None)
        if match:
            found.add(match)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _norm(text: str) -> str:
    return " ".join(_THOUSANDS.sub("", text.lower()).split())


def answer_correct(answer: str, key_facts: Sequence[str], regex: str | None = None) -> bool:
    """Correct when the regex matches, or (without one) when every key fact appears; thousands
    separators and case are ignored."""
    if regex:
        return re.search(regex, answer, re.IGNORECASE) is not None or (
            bool(key_facts) and all(_norm(f) in _norm(answer) for f in key_facts)
        )
    return bool(key_facts) and all(_norm(f) in _norm(answer) for f in key_facts)


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 between an answer and a reference answer."""
    a, r = _norm(answer).split(), _norm(reference).split()
    common = sum(min(a.count(t), r.count(t)) for t in set(a) & set(r))
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)
