"""Hybrid retrieval latency p50/p95 at 10k and 100k chunks.

The sample company's KB supplies real vectors and vocabulary; the large sizes are synthetic:
chunk text drawn from the sample vocabulary, vectors = mixtures of two real chunk embeddings plus
noise (so neighbourhoods look like real ones). Queries are the real sample questions, embedded
by the real bundled model. Reported with and without the query embedding time."""

from __future__ import annotations

import shutil
import statistics
import time

import numpy as np

from _common import OUT, QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import normalize
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.types import Chunk, DocumentRecord

SIZES = (10_000, 100_000)
CHUNKS_PER_DOC = 50
REPEATS = 3


def _sample() -> tuple[np.ndarray, list[str]]:
    with KnowledgeBase.open(sample_kb()) as kb:
        ids = kb.store.chunk_ids()
        vecs = kb.store.vectors(ids)
        words = [w for h in kb.store.hits(ids).values() for w in h.text.split() if w.isascii()]
    return vecs, words


def _fill(
    kb: KnowledgeBase, start: int, stop: int, vecs: np.ndarray, words: list[str], rng: np.random.Generator
) -> None:
    for d in range(start // CHUNKS_PER_DOC, stop // CHUNKS_PER_DOC):
        doc_id = f"syn{d:06d}"
        chunks = [
            Chunk(doc_id, i, " ".join(rng.choice(words, 60)), f"Synthetic {d} > Part {i % 7}")
            for i in range(CHUNKS_PER_DOC)
        ]
        a, b = rng.integers(0, len(vecs), (2, CHUNKS_PER_DOC))
        mix = vecs[a] + 0.5 * vecs[b] + 0.25 * rng.normal(size=vecs[a].shape).astype(np.float32)
        record = DocumentRecord(
            doc_id,
            f"synthetic/doc{d}.txt",
            f"/synthetic/doc{d}.txt",
            "text",
            f"Synthetic {d}",
            f"h{d}",
            " ".join(rng.choice(words, 40)),
            file_hash=f"h{d}",
        )
        kb.store.upsert(record, chunks, normalize(mix), normalize(mix[:1])[0])


def _timed(kb: KnowledgeBase, queries: list[str], mode: str) -> list[float]:
    out = []
    for _ in range(REPEATS):
        for q in queries:
            t0 = time.perf_counter()
            retrieve(kb, q, k=10, mode=mode)  # type: ignore[arg-type]
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p))


def main() -> None:
    vecs, words = _sample()
    queries = [q.question for q in load_questions(QUESTIONS)]
    kb_dir = OUT / "latency-kb"
    shutil.rmtree(kb_dir, ignore_errors=True)
    kb = KnowledgeBase.create(kb_dir)
    rng = np.random.default_rng(0)
    results, done = {}, 0
    for size in SIZES:
        t0 = time.perf_counter()
        _fill(kb, done, size, vecs, words, rng)
        insert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        kb.store.sync()
        index_s = time.perf_counter() - t0
        done = size
        qv = {q: kb.embed([q])[0] for q in queries}
        embed_ms = []
        for q in queries:
            t0 = time.perf_counter()
            kb.embed([q])
            embed_ms.append((time.perf_counter() - t0) * 1000)
        full = _timed(kb, queries, "hybrid")
        real_embed = kb.embed
        kb.embed = lambda texts, qv=qv: np.stack([qv[t] for t in texts])  # type: ignore[method-assign]
        no_embed = _timed(kb, queries, "hybrid")
        dense = _timed(kb, queries, "dense")
        bm25 = _timed(kb, queries, "bm25")
        kb.embed = real_embed  # type: ignore[method-assign]
        results[size] = {
            "insert_seconds": insert_s,
            "index_seconds": index_s,
            "ann_index": kb.store.ann.kind,
            "hybrid_p50_ms": _pct(full, 50),
            "hybrid_p95_ms": _pct(full, 95),
            "hybrid_no_embed_p50_ms": _pct(no_embed, 50),
            "hybrid_no_embed_p95_ms": _pct(no_embed, 95),
            "dense_only_p50_ms": _pct(dense, 50),
            "bm25_only_p50_ms": _pct(bm25, 50),
            "query_embed_p50_ms": statistics.median(embed_ms),
        }
    kb.close()
    lines = [
        "| chunks | ANN | hybrid p50 | hybrid p95 | hybrid p50 (no embed) | p95 (no embed) | "
        "dense p50 | BM25 p50 | query embed p50 | build (insert + index) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, r in results.items():
        lines.append(
            f"| {size:,} | {r['ann_index']} | {r['hybrid_p50_ms']:.1f} ms | {r['hybrid_p95_ms']:.1f} ms | "
            f"{r['hybrid_no_embed_p50_ms']:.1f} ms | {r['hybrid_no_embed_p95_ms']:.1f} ms | "
            f"{r['dense_only_p50_ms']:.1f} ms | {r['bm25_only_p50_ms']:.1f} ms | "
            f"{r['query_embed_p50_ms']:.1f} ms | {r['insert_seconds']:.0f} s + {r['index_seconds']:.0f} s |"
        )
    text = (
        f"Hybrid top-10 retrieval latency, {len(queries)} real questions x {REPEATS} "
        f"(goal: <= 50 ms p50 at 100k)\n\n" + "\n".join(lines)
    )
    write_results(
        "retrieval_latency",
        {"machine": machine(), "queries": len(queries), "results": {str(k): v for k, v in results.items()}},
        text,
    )


if __name__ == "__main__":
    main()
