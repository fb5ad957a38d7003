"""Hybrid search over a knowledge base: dense + BM25 + document summaries, fused by rank (RRF) or
by calibrated scores, with weights that lean lexical for identifier-like queries.

``gather`` runs the retrievers once; ``fuse`` is a pure function of what they returned and the
settings (the benchmarks tune it on cached candidates); ``retrieve`` = gather + fuse + rerank
(MaxSim over the best fused chunks, ``retrieve/rerank.py``) + collapse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from industry_expert.config import RetrieveSettings
from industry_expert.errors import ConfigError
from industry_expert.kb import KnowledgeBase
from industry_expert.models.threads import query_threads
from industry_expert.retrieve.fusion import (
    adaptive_weights,
    collapse_near_duplicates,
    contributions,
    fused_order,
    identifier_share,
    name_share,
    order_by_documents,
    rrf,
)
from industry_expert.retrieve.rerank import has_token_vectors, query_tokens, rerank_kb
from industry_expert.store.base import Filters
from industry_expert.store.text_query import STOP_WORDS
from industry_expert.types import Hit

Mode = Literal["hybrid", "dense", "bm25"]
RETRIEVERS = ("dense", "bm25", "summary")
SUMMARY_RRF_K = 10
"""RRF constant that merges the summary's dense and BM25 document rankings (fixed, so the fusion
settings never change the summary ranking itself)."""


@dataclass
class Candidates:
    """What each retriever returned for one query: best-first ``(chunk_id, score)`` lists; the
    summary list ranks the chunks by their document's summary score."""

    query: str
    dense: list[tuple[int, float]] = field(default_factory=list)
    bm25: list[tuple[int, float]] = field(default_factory=list)
    summary: list[tuple[int, float]] = field(default_factory=list)
    term_df: dict[str, int] = field(default_factory=dict)
    """Chunks containing each indexed query term (hybrid mode), and the KB's chunk count."""
    chunks: int = 0

    def lists(self) -> list[list[tuple[int, float]]]:
        return [self.dense, self.bm25, self.summary]


def gather(
    kb: KnowledgeBase,
    query: str,
    n: int,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    query_vector: np.ndarray | None = None,
    term_counts: bool = False,
) -> Candidates:
    """Run the retrievers that ``mode`` needs, ``n`` candidates each (native work on one thread).
    ``term_counts``: also count the chunks of each query word (for the name lean; hybrid only)."""
    with query_threads():
        return _gather(kb, query, n, filters, mode, query_vector, term_counts)


def _gather(
    kb: KnowledgeBase,
    query: str,
    n: int,
    filters: Filters | None,
    mode: Mode,
    query_vector: np.ndarray | None,
    term_counts: bool,
) -> Candidates:
    c = Candidates(query)
    store = kb.store
    qvec = None
    if mode in ("hybrid", "dense"):
        qvec = kb.embed([query])[0] if query_vector is None else query_vector
        c.dense = store.dense(qvec, n, filters)
    if mode in ("hybrid", "bm25"):
        c.bm25 = store.lexical(query, n, filters)
    if mode == "hybrid":
        if term_counts:
            c.term_df, c.chunks = store.term_frequencies(query)
        doc_score = _summary_scores(kb, qvec, query, n)
        pool = list(dict.fromkeys([i for i, _ in c.dense] + [i for i, _ in c.bm25]))
        doc_of = {cid: h.doc_id for cid, h in store.hits(pool).items()}
        rank = {d: r for r, d in enumerate(doc_score, start=1)}
        c.summary = [(cid, doc_score[doc_of[cid]]) for cid in order_by_documents(pool, doc_of, rank)]
    return c


def _summary_scores(kb: KnowledgeBase, qvec: Any, query: str, n: int) -> dict[str, float]:
    """Documents by the RRF of their summary's dense and BM25 rankings, best first."""
    dense = [d for d, _ in kb.store.summary_dense(qvec, n)]
    lexical = [d for d, _ in kb.store.summary_lexical(query, n)]
    return {str(doc): score for doc, score in rrf([dense, lexical], k=SUMMARY_RRF_K)}


def lexical_share(c: Candidates, s: RetrieveSettings) -> float:
    """How much of the query is better matched lexically: the larger of its identifier share
    (codes, options, config keys) and its share of names that are rare in this KB."""
    return max(identifier_share(c.query, STOP_WORDS), name_share(c.query, c.term_df, c.chunks, s.rare_df))


def weights_for(c: Candidates, s: RetrieveSettings) -> list[float]:
    """Dense, BM25 and summary weights for this query (query-adaptive when ``s.adaptive``)."""
    dense, bm25 = s.weight_dense, s.weight_bm25
    if s.adaptive:
        dense, bm25 = adaptive_weights(dense, bm25, lexical_share(c, s), s.adaptive)
    return [dense, bm25, s.weight_summary]


MIN_CALIBRATION = 8
"""Score fusion calibrates each retriever's scores over its candidates; with fewer dense
candidates than this (a KB of a few chunks) the calibration is noise, and rank fusion is used."""


def fusion_method(c: Candidates, s: RetrieveSettings) -> str:
    """The fusion actually used for this query: ``s.fusion``, except rank fusion for tiny KBs."""
    if s.fusion == "score" and len(c.dense) < MIN_CALIBRATION:
        return "rrf"
    return s.fusion


def fuse(c: Candidates, s: RetrieveSettings) -> tuple[list[tuple[int, float]], dict[int, list[float]]]:
    """Fused ranking and each chunk's contribution from each retriever (pure)."""
    w = weights_for(c, s)
    contrib = contributions(c.lists(), w, fusion_method(c, s), s.rrf_k, s.normalization)
    return fused_order(contrib), contrib


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
    ``query_vector``: the query already embedded by the caller (so it is embedded once).
    Every hit's ``explain`` gives its rank, score and fusion contribution per retriever."""
    s = settings or RetrieveSettings()
    names = s.adaptive > 0 and s.rare_df > 0
    tokens = None
    if mode == "hybrid" and s.rerank != "none" and has_token_vectors(kb.embedder):
        with query_threads():  # one encoder pass gives the dense vector and the rerank's tokens
            vector, tokens = query_tokens(kb, query)
        query_vector = vector if query_vector is None else query_vector
    c = gather(kb, query, max(s.candidates, k), filters, mode, query_vector, term_counts=names)
    if mode == "dense":
        return _finish(kb, c.dense, k, s, c, None)
    if mode == "bm25":
        return _finish(kb, c.bm25, k, s, c, None)
    ranked, contrib = fuse(c, s)
    ranked, reranked = rerank_stage(kb, query, ranked, s, tokens)
    return _finish(kb, ranked, k, s, c, contrib, reranked)


def rerank_stage(
    kb: KnowledgeBase,
    query: str,
    ranked: list[tuple[int, float]],
    s: RetrieveSettings,
    query_vectors: np.ndarray | None = None,
) -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
    """The fused ranking with its best ``s.rerank_depth`` chunks reranked by MaxSim (when
    ``s.rerank`` asks and the embedder can), and what the stage did to each of them.
    ``query_vectors``: the query's content token vectors, when already encoded."""
    if s.rerank == "none" or len(ranked) < 2:
        return ranked, {}
    if not has_token_vectors(kb.embedder):
        if s.rerank == "maxsim":
            raise ConfigError(
                f"retrieve.rerank: maxsim needs token vectors, which the KB's embedder "
                f"'{getattr(kb.embedder, 'id', kb.embedder)}' does not give (use rerank: auto or none)"
            )
        return ranked, {}
    with query_threads():
        out, sims = rerank_kb(kb, query, ranked, s.rerank_depth, s.rerank_weight, query_vectors)
    before = {cid: (r, score) for r, (cid, score) in enumerate(ranked, start=1)}
    info = {
        cid: {
            "maxsim": round(sims[cid], 6),
            "fused_rank": before[cid][0],
            "fused_score": round(before[cid][1], 6),
            "weight": s.rerank_weight,
        }
        for cid in sims
    }
    return out, info


def _finish(
    kb: KnowledgeBase,
    ranked: list[tuple[int, float]],
    k: int,
    s: RetrieveSettings,
    c: Candidates,
    contrib: dict[int, list[float]] | None,
    reranked: dict[int, dict[str, Any]] | None = None,
) -> list[Hit]:
    pool = [i for i, _ in ranked[: k * 3]]
    if not pool:
        return []
    kept = collapse_near_duplicates(pool, kb.store.vectors(pool), s.dedup_cosine)[:k]
    score = dict(ranked)
    hits = kb.store.hits(kept)
    out = []
    for cid in kept:
        hit = replace(hits[cid], score=round(score[cid], 6))
        hit.explain = explain(cid, c, contrib, s)
        if reranked and cid in reranked:
            hit.explain["rerank"] = reranked[cid]
        hit.ranks = {name: e["rank"] for name, e in hit.explain.items() if name in RETRIEVERS}
        out.append(hit)
    return out


def explain(
    cid: int, c: Candidates, contrib: dict[int, list[float]] | None, s: RetrieveSettings
) -> dict[str, Any]:
    """Rank (1-based, None when absent), raw score and fusion contribution per retriever."""
    out: dict[str, Any] = {}
    for i, (name, lst) in enumerate(zip(RETRIEVERS, c.lists())):
        if not lst:
            continue
        rank = next((r for r, (x, _) in enumerate(lst, start=1) if x == cid), None)
        out[name] = {
            "rank": rank,
            "score": round(lst[rank - 1][1], 6) if rank else None,
            "contribution": round(contrib[cid][i], 6) if contrib else None,
        }
    if contrib is not None:
        w = weights_for(c, s)
        out["fusion"] = {
            "method": fusion_method(c, s),
            "weights": dict(zip(RETRIEVERS, (round(x, 4) for x in w))),
        }
        if s.adaptive:
            out["fusion"]["identifier_share"] = round(identifier_share(c.query, STOP_WORDS), 3)
            out["fusion"]["name_share"] = round(name_share(c.query, c.term_df, c.chunks, s.rare_df), 3)
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
