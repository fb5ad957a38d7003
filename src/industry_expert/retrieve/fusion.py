"""Rank fusion, score-calibrated fusion, query-adaptive weights and near-duplicate collapsing,
as pure functions."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T", bound=Hashable)


def rrf(
    rankings: Sequence[Sequence[T]], weights: Sequence[float] | None = None, k: int = 60
) -> list[tuple[T, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[T, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))


def order_by_documents(
    candidates: Sequence[int], doc_of: dict[int, str], doc_rank: dict[str, int]
) -> list[int]:
    """Candidates ordered by the rank of their document (summary retrieval); stable within a doc.
    Chunks of documents the summary ranking did not find are left out."""
    ranked = [c for c in candidates if doc_of.get(c) in doc_rank]
    return sorted(ranked, key=lambda c: doc_rank[doc_of[c]])


def collapse_near_duplicates(ids: Sequence[int], vectors: np.ndarray, threshold: float) -> list[int]:
    """Keep ids in order, dropping any whose vector has cosine >= threshold with a kept one."""
    kept: list[int] = []
    kept_rows: list[int] = []
    for row, cid in enumerate(ids):
        if kept_rows and float(np.max(vectors[kept_rows] @ vectors[row])) >= threshold:
            continue
        kept.append(cid)
        kept_rows.append(row)
    return kept


# -- score-calibrated fusion and query-adaptive weights -------------------------------------------

Contributions = dict[Hashable, list[float]]
"""Per item, its weighted term from each ranking (0.0 where a ranking did not return it)."""


def normalize_scores(scores: Sequence[float], method: str) -> np.ndarray:
    """Per-query calibration of one retriever's scores: ``minmax`` maps them to [0, 1], ``zscore``
    to mean 0 / unit spread. All equal (or a single score): 1.0 for both, so a lone hit still
    counts (see ``contributions``: absent items then get 0)."""
    s = np.asarray(scores, dtype=np.float64)
    if method == "minmax":
        span = s.max() - s.min()
        return (s - s.min()) / span if span > 0 else np.ones_like(s)
    if method == "zscore":
        std = s.std()
        return (s - s.mean()) / std if std > 0 else np.ones_like(s)
    raise ValueError(f"unknown score normalization '{method}' (use minmax or zscore)")


def contributions(
    rankings: Sequence[Sequence[tuple[T, float]]],
    weights: Sequence[float],
    method: str = "rrf",
    k: int = 60,
    normalization: str = "minmax",
) -> dict[T, list[float]]:
    """Each item's weighted term from each best-first ``(item, score)`` list. ``rrf``: w/(k+rank),
    0 where absent; ``score``: w * calibrated score, an absent item getting the list's lowest."""
    items = list(dict.fromkeys(it for ranking in rankings for it, _ in ranking))
    out: dict[T, list[float]] = {it: [0.0] * len(rankings) for it in items}
    for i, (ranking, w) in enumerate(zip(rankings, weights)):
        if not ranking or not w:
            continue
        if method == "rrf":
            terms, floor = [w / (k + r) for r in range(1, len(ranking) + 1)], 0.0
        else:
            raw = [s for _, s in ranking]
            norm = normalize_scores(raw, normalization)
            # absent items get the list's lowest calibrated score; when the list cannot be
            # calibrated (one hit, or all tied) its hits count fully and absent items not at all
            floor = w * float(norm.min()) if max(raw) > min(raw) else 0.0
            terms = list(w * norm)
        if floor:
            for row in out.values():
                row[i] = floor
        for (item, _), term in zip(ranking, terms):
            out[item][i] = float(term)
    return out


def fused_order(contrib: dict[T, list[float]]) -> list[tuple[T, float]]:
    """Items by their summed contributions, best first (ties by the item's text, stable)."""
    return sorted(((it, float(sum(row))) for it, row in contrib.items()), key=lambda kv: (-kv[1], str(kv[0])))


_IDENT = (
    re.compile(r"^-{1,2}\w"),  # --no-ff, -L
    re.compile(r"^\.\w"),  # .mode, .gitignore
    re.compile(r"\w\(\)?$|\w\($"),  # json_extract(), sin(
    re.compile(r"(?=.*[a-zA-Z])(?=.*\d)"),  # KF-340, E-214, utf8mb4
    re.compile(r"\w[_./:@{}~^]\w|\w[_@{}~^]|[_@{}~^]\w"),  # pull.rebase, SQLITE_BUSY, @{u}
    re.compile(r"^[A-Z]{2,}[A-Z0-9_]*$"),  # WAL, SQLITE
    re.compile(r"[a-z][A-Z]"),  # camelCase: excludesFile
)
_EDGE = "\"'`,;:!?()[]<>"


def identifier_share(query: str, stop_words: frozenset[str] = frozenset()) -> float:
    """Share of the query's content words that look like identifiers or codes (part numbers,
    options, config keys, function names, error codes): those are matched best lexically."""
    words = []
    for raw in query.split():
        word = raw.strip(_EDGE) if not raw.endswith("()") else raw.strip(_EDGE[:-4]) + "()"
        if word and word.lower() not in stop_words and any(ch.isalnum() for ch in word):
            words.append(word)
    if not words:
        return 0.0
    return sum(1 for w in words if any(p.search(w) for p in _IDENT)) / len(words)


_WORD = re.compile(r"\w[\w\-]*")


def name_share(query: str, term_df: dict[str, int], chunks: int, rare_df: float) -> float:
    """Share of the query's content words that are names: capitalised where a sentence does not
    start, and in few of the KB's chunks (at most ``rare_df`` of them, and at least 2) -- the
    customers, places, products and people that a dense embedding blurs into their neighbours
    and BM25 matches exactly. ``term_df`` maps lower-cased query words to the chunks that contain
    them (``Store.term_frequencies``); words absent from the KB do not count."""
    if not term_df or rare_df <= 0:
        return 0.0
    limit = max(2.0, rare_df * chunks)
    words = _WORD.findall(query)
    names = sum(
        1
        for i, w in enumerate(words)
        if i and w[0].isupper() and 0 < term_df.get(w.lower().strip("-_"), 0) <= limit
    )
    return min(1.0, names / len(term_df))


def adaptive_weights(dense: float, lexical: float, share: float, adaptive: float) -> tuple[float, float]:
    """Move ``adaptive * share`` of the dense weight to the lexical one (total kept)."""
    moved = dense * adaptive * share
    return dense - moved, lexical + moved
