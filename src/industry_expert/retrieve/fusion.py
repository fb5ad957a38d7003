"""Rank fusion and near-duplicate collapsing as pure functions."""

from __future__ import annotations

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
