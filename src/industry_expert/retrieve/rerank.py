"""Reranking the hybrid's best candidates by late interaction: ColBERT-style MaxSim over the
embedder's own contextual token vectors, fused with the hybrid score.

No cross-encoder weights exist offline; the bundled all-MiniLM-L6-v2 already computes one vector
per token before mean pooling, and matching each query token to its best chunk token recovers
exact-term evidence that the pooled vector blurs while keeping the encoder's paraphrase
tolerance. Measured on seven question sets in bench/results/rerank_experiments.md.

The passages' token vectors are kept at ingest (int8, ``store/token_vectors.py``), so a query
costs one encoder pass over the query alone (which also gives its dense vector) and a read of
``rerank_depth`` stored matrices; a chunk without kept vectors (a KB ingested before they were
kept) is encoded at query time, as before. ``token_vectors`` runs the encoder with offsets (the
benchmarks' signals); ``maxsim`` and ``rerank`` are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from industry_expert.errors import ConfigError
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.fusion import normalize_scores
from industry_expert.types import section_text

T = TypeVar("T")
SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>"})
BATCH = 16


@dataclass
class TokenVectors:
    """One text through the encoder: a unit vector per token, the tokens and their character
    offsets in the text, and the unit mean of the token outputs (the text's dense vector)."""

    vectors: np.ndarray
    tokens: list[str]
    offsets: list[tuple[int, int]]
    pooled: np.ndarray

    def content(self) -> np.ndarray:
        """The rows that carry text: no special tokens, no punctuation-only tokens."""
        keep = [i for i, t in enumerate(self.tokens) if t not in SPECIAL and any(c.isalnum() for c in t)]
        if not keep:
            keep = [i for i, t in enumerate(self.tokens) if t not in SPECIAL] or [0]
        return self.vectors[keep]


def has_token_vectors(embedder: Any) -> bool:
    """Whether ``embedder`` can give its token vectors (the local ONNX embedder can)."""
    return hasattr(embedder, "embed_tokens")


def token_vectors(embedder: Any, texts: Sequence[str], threads: int = 1) -> list[TokenVectors]:
    """Encode ``texts`` with the KB's ONNX embedder (``embedder: minilm``), keeping the token
    outputs that its sentence vector averages."""
    if not has_token_vectors(embedder):
        raise ConfigError(
            f"reranking needs token vectors from the local ONNX embedder; '{getattr(embedder, 'id', embedder)}' has none"
        )
    sess = embedder.session(threads)
    names = {i.name for i in sess.get_inputs()}
    out: list[TokenVectors] = []
    for start in range(0, len(texts), BATCH):
        encs = embedder.tokenizer.encode_batch(list(texts[start : start + BATCH]))
        ids = np.zeros((len(encs), max(len(e.ids) for e in encs)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encs):
            ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, e.attention_mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = sess.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        out += [_one(hidden[row, : len(e.ids)], e) for row, e in enumerate(encs)]
    return out


def _one(raw: np.ndarray, enc: Any) -> TokenVectors:
    raw = raw.astype(np.float32)
    unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
    pooled = raw.mean(axis=0)
    return TokenVectors(
        unit, list(enc.tokens), list(enc.offsets), pooled / max(float(np.linalg.norm(pooled)), 1e-12)
    )


def maxsim(query: np.ndarray, doc: np.ndarray) -> float:
    """Mean over the query's token vectors of the best cosine with any of the document's."""
    return float((query @ doc.T).max(axis=1).mean())


def rerank(
    ranked: Sequence[tuple[T, float]], signal: Sequence[float], weight: float
) -> list[tuple[T, float]]:
    """The first ``len(signal)`` items reordered by ``z(fused score) + weight * z(signal)``
    (z: per-query standardisation over those items; ``weight`` inf: the signal alone); the rest
    keep their order after them."""
    n = len(signal)
    top, rest = list(ranked[:n]), list(ranked[n:])
    if n < 2 or weight == 0:
        return list(ranked)
    sig = normalize_scores(signal, "zscore")
    score = sig if np.isinf(weight) else normalize_scores([s for _, s in top], "zscore") + weight * sig
    order = sorted(range(n), key=lambda j: (-score[j], j))
    return [(top[j][0], float(score[j])) for j in order] + _below(top, rest, sig, weight, score)


def _below(
    top: list[tuple[T, float]], rest: list[tuple[T, float]], sig: np.ndarray, weight: float, score: np.ndarray
) -> list[tuple[T, float]]:
    """The items after the reranked ones, in their fused order, scored on the same scale: their
    fused score standardised like the reranked ones', plus the lowest MaxSim term among those
    (their own is not computed). So every score is at or below every reranked one's."""
    fused = np.asarray([s for _, s in top], dtype=np.float64)
    if np.isinf(weight) or fused.std() == 0:
        floor = float(score.min())
        return [(item, floor - 1e-6 * (i + 1)) for i, (item, _) in enumerate(rest)]
    low = weight * float(sig.min())
    return [(item, float((s - fused.mean()) / fused.std() + low)) for item, s in rest]


def maxsim_scores(embedder: Any, query: str, passages: Sequence[str]) -> list[float]:
    """MaxSim of ``query`` against each passage, every passage encoded now (one thread)."""
    q, *docs = token_vectors(embedder, [query, *passages])
    qv = q.content()
    return [maxsim(qv, d.content()) for d in docs]


def passage_tokens(kb: KnowledgeBase, ids: Sequence[int]) -> tuple[list[np.ndarray], int]:
    """The chunks' content token vectors: kept at ingest where the KB has them, the others
    encoded now (one thread); and how many were encoded now."""
    hits = kb.store.hits(list(ids))
    keys = [(hits[c].doc_id, section_text(hits[c].section, hits[c].text)) for c in ids]
    found = kb.token_store.get(keys)
    missing = [i for i, m in enumerate(found) if m is None]
    if missing:
        fresh = kb.embed_with_tokens([keys[i][1] for i in missing], threads=1)[1]
        if fresh is None:
            raise _no_tokens(kb)
        for i, m in zip(missing, fresh, strict=True):
            found[i] = m
    return [m for m in found if m is not None], len(missing)


def query_tokens(kb: KnowledgeBase, query: str) -> tuple[np.ndarray, np.ndarray]:
    """The query's dense vector (as ``kb.embed``) and its content token vectors, from one encoder
    pass on one thread."""
    vectors, tokens = kb.embed_with_tokens([query], threads=1)
    if tokens is None:
        raise _no_tokens(kb)
    return vectors[0], tokens[0]


def rerank_kb(
    kb: KnowledgeBase,
    query: str,
    ranked: Sequence[tuple[int, float]],
    n: int,
    weight: float,
    query_vectors: np.ndarray | None = None,
) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The fused ranking with its best ``n`` chunks reranked by MaxSim, and each one's MaxSim.
    ``query_vectors``: the query's content token vectors when the caller has them (else encoded
    here). The chunks' vectors are the ones kept at ingest (about 2 ms for 10 on one thread;
    bench/results/search_latency.md), or encoded now where a chunk has none (about 35 ms each)."""
    ids = [cid for cid, _ in ranked[:n]]
    qv = query_tokens(kb, query)[1] if query_vectors is None else query_vectors
    docs, _ = passage_tokens(kb, ids)
    sims = [maxsim(qv, d) for d in docs]
    return rerank(ranked, sims, weight), dict(zip(ids, sims, strict=True))


def _no_tokens(kb: KnowledgeBase) -> ConfigError:
    return ConfigError(f"reranking needs token vectors; '{getattr(kb.embedder, 'id', kb.embedder)}' has none")
