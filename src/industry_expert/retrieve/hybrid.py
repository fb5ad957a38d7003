"""Hybrid search over a knowledge base: dense + BM25 + document summaries, fused with RRF."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Literal

import numpy as np

from industry_expert.config import RetrieveSettings
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.fusion import collapse_near_duplicates, order_by_documents, rrf
from industry_expert.store.base import Filters
from industry_expert.types import Hit

Mode = Literal["hybrid", "dense", "bm25"]


def retrieve(
    kb: KnowledgeBase,
    query: str,
    k: int = 5,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    settings: RetrieveSettings | None = None,
    query_vector: np.ndarray | None = None,
) -> list[Hit]:
    """Best-first hits. ``mode`` selects one retriever alone (for comparison) or the hybrid.
    ``query_vector``: the query already embedded by the caller (so it is embedded once)."""
    s = settings or RetrieveSettings()
    n = max(s.candidates, k)
    store = kb.store
    dense: list[tuple[int, float]] = []
    lexical: list[tuple[int, float]] = []
    if mode in ("hybrid", "dense"):
        qvec = kb.embed([query])[0] if query_vector is None else query_vector
        dense = store.dense(qvec, n, filters)
    if mode in ("hybrid", "bm25"):
        lexical = store.lexical(query, n, filters)
    if mode == "dense":
        return _finish(kb, [(i, sc) for i, sc in dense], k, s, {"dense": dense})
    if mode == "bm25":
        return _finish(kb, lexical, k, s, {"bm25": lexical})
    doc_rank = _summary_ranks(kb, qvec, query, n, s.rrf_k)
    candidates = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
    doc_of = {cid: h.doc_id for cid, h in store.hits(candidates).items()}
    by_doc = order_by_documents(candidates, doc_of, doc_rank)
    fused = rrf(
        [[i for i, _ in dense], [i for i, _ in lexical], by_doc],
        [s.weight_dense, s.weight_bm25, s.weight_summary],
        s.rrf_k,
    )
    return _finish(
        kb,
        [(int(i), sc) for i, sc in fused],
        k,
        s,
        {"dense": dense, "bm25": lexical, "summary": [(c, 0.0) for c in by_doc]},
    )


def _summary_ranks(kb: KnowledgeBase, qvec, query: str, n: int, rrf_k: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    dense = [d for d, _ in kb.store.summary_dense(qvec, n)]
    lexical = [d for d, _ in kb.store.summary_lexical(query, n)]
    fused = rrf([dense, lexical], k=rrf_k)
    return {str(doc): rank for rank, (doc, _) in enumerate(fused, start=1)}


def _finish(
    kb: KnowledgeBase,
    ranked: list[tuple[int, float]],
    k: int,
    s: RetrieveSettings,
    lists: dict[str, list[tuple[int, float]]],
) -> list[Hit]:
    pool = [i for i, _ in ranked[: k * 3]]
    if not pool:
        return []
    vectors = kb.store.vectors(pool)
    kept = collapse_near_duplicates(pool, vectors, s.dedup_cosine)[:k]
    score = dict(ranked)
    rank_in = {name: {cid: r for r, (cid, _) in enumerate(lst, start=1)} for name, lst in lists.items()}
    hits = kb.store.hits(kept)
    out = []
    for cid in kept:
        hit = replace(hits[cid], score=round(score[cid], 6))
        hit.ranks = {name: ranks.get(cid) for name, ranks in rank_in.items()}
        out.append(hit)
    return out


def search(
    query: str,
    kb: str | os.PathLike[str] | KnowledgeBase,
    k: int = 5,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    settings: RetrieveSettings | None = None,
) -> list[Hit]:
    """Search a KB directory (or an open :class:`KnowledgeBase`)."""
    if isinstance(kb, KnowledgeBase):
        return retrieve(kb, query, k, filters, mode, settings)
    with KnowledgeBase.open(kb) as opened:
        return retrieve(opened, query, k, filters, mode, settings)
