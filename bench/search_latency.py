"""The default search with the rerank's token vectors kept at ingest (int8, ``tokens.sqlite``)
against encoding them at query time (fp32, as before), in the same run:

1. quality on the seven question sets (bench/retrieval_loo.py's KBs; an older KB gets its token
   vectors filled first): hit@1 / hit@5 / MRR@10 of the default ``retrieve`` (document level, as
   retrieval_loo), how many questions' top-10 order differs, and the largest MaxSim difference;
2. latency at about 18k chunks: the seven sets' KBs merged into one, then a second copy of
   their documents under other ids up to 18,000 chunks (vectors and kept token vectors copied,
   never re-embedded: same-size indexes as 18k distinct chunks, built in seconds);
   ``retrieve`` top-5 per question, one thread, the variants interleaved question by question
   so the machine's load hits them alike;
3. disk: ``tokens.sqlite`` bytes per chunk and per token vector, extrapolated to 1M chunks.

    python bench/retrieval_loo.py        # first: builds the seven KBs under bench/out
    python bench/search_latency.py       # IE_NUM_THREADS=1 recommended on a shared machine
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from _common import OUT, QUESTIONS, machine, write_results
from industry_expert.config import RetrieveSettings
from industry_expert.evaluate.metrics import ranked_documents
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.threads import query_threads
from industry_expert.retrieve.hybrid import fuse, gather, retrieve
from industry_expert.store.token_vectors import SCHEMA, TOKENS_DB, Key, TokenVectorStore, quantize
from industry_expert.types import Chunk, section_text
from retrieval_loo import metrics, question_sets, questions_path, summarize

BIG = OUT / "search18k-kb"
TARGET_CHUNKS = 18_000
"""The latency KB: the seven sets' KBs merged, then their documents again under other ids (a
second copy, vectors and token vectors copied) until it holds this many chunks."""
LATENCY_QUESTIONS = 140
"""Questions timed at 18k chunks: 20 from each set."""
VARIANTS = {
    "stored int8 (kept at ingest)": "stored",
    "query-time fp32 (as before)": "encoded",
    "fusion only (rerank: none)": "none",
}


# -- the 18k-chunk KB ---------------------------------------------------------------------------


def copy_documents(big: KnowledgeBase, src: KnowledgeBase, prefix: str, need: int) -> int:
    """Upsert ``src``'s documents into ``big`` with ids ``prefix + doc_id`` (and their kept token
    vectors), whole documents, until about ``need`` chunks were added; returns the chunks added."""
    ids = src.store.chunk_ids()
    hits, vecs = src.store.hits(ids), src.store.vectors(ids)
    by_doc: dict[str, list[int]] = {}
    for row, cid in enumerate(ids):
        by_doc.setdefault(hits[cid].doc_id, []).append(row)
    added = 0
    for doc in src.store.documents():
        if added >= need or not by_doc.get(doc.doc_id):
            continue
        rows = by_doc[doc.doc_id]
        new = replace(
            doc, doc_id=prefix + doc.doc_id, source=prefix + doc.source, abs_path=prefix + doc.abs_path
        )
        chunks = [
            Chunk(new.doc_id, i, hits[ids[r]].text, hits[ids[r]].section, hits[ids[r]].page)
            for i, r in enumerate(rows)
        ]
        big.store.upsert(new, chunks, vecs[rows], src.store.summary_vectors([doc.doc_id])[0])
        added += len(rows)
    _copy_token_rows(big.path, src.path, prefix)
    return added


def _copy_token_rows(big: Path, src: Path, prefix: str) -> None:
    con = sqlite3.connect(big / TOKENS_DB, isolation_level=None)
    con.executescript(SCHEMA)
    con.execute("ATTACH DATABASE ? AS src", (str(src / TOKENS_DB),))
    con.execute(  # rows of documents that were not copied go with big.prune_token_vectors()
        "INSERT OR REPLACE INTO tokens SELECT ? || doc_id, text_hash, n, scales, data FROM src.tokens",
        (prefix,),
    )
    con.close()


def big_kb(sets: dict[str, tuple[Path, Any]]) -> Path:
    """The seven sets merged, then copies of their documents up to ``TARGET_CHUNKS`` (built once)."""
    with KnowledgeBase.create(BIG) as big:
        if big.store.stats()["chunks"] < TARGET_CHUNKS:
            for prefix in ("", "copy/"):
                for kb_path, _ in sets.values():
                    need = TARGET_CHUNKS - big.store.stats()["chunks"] if prefix else 10**9
                    with KnowledgeBase.open(kb_path) as kb:
                        copy_documents(big, kb, prefix, need)
        big.prune_token_vectors()
        big.store.sync()
    return BIG


# -- variants -----------------------------------------------------------------------------------


@contextmanager
def variant(kb: KnowledgeBase, name: str) -> Iterator[RetrieveSettings]:
    """The default settings; ``encoded``: as if the KB kept no token vectors (every passage is
    encoded at query time, fp32); ``none``: no rerank."""
    kept = kb.token_store
    if name == "encoded":
        kb.__dict__["_token_store"] = TokenVectorStore(OUT / "no-token-vectors-here")
    try:
        yield RetrieveSettings(rerank="none") if name == "none" else RetrieveSettings()
    finally:
        kb.__dict__["_token_store"] = kept


def run_query(kb: KnowledgeBase, question: str, name: str, k: int) -> tuple[float, list[Any]]:
    with variant(kb, name) as s:
        t0 = time.perf_counter()
        hits = retrieve(kb, question, k, settings=s)
        return (time.perf_counter() - t0) * 1000, hits


# -- quality ------------------------------------------------------------------------------------


class QueryTimeTokens:
    """A token store for the quality comparison's query-time side: each passage encoded alone the
    first time a question's top 10 holds it (fp32, as the rerank does without kept vectors) and
    remembered for the rest of the set, so no chunk is encoded twice in the run. It also fills
    the kept (int8) rows a KB ingested before they were kept lacks, from the same encoding."""

    def __init__(self, kb: KnowledgeBase, kept: TokenVectorStore) -> None:
        self.kb, self.kept, self.fp32 = kb, kept, dict[Key, np.ndarray]()
        self.filled = 0

    def get(self, keys: list[Key]) -> list[np.ndarray | None]:
        new = list(dict.fromkeys(k for k in keys if k not in self.fp32))
        if new:
            self.fp32.update(zip(new, self.kb.embed_with_tokens([t for _, t in new], threads=1)[1] or []))
        missing = [k for k, m in zip(keys, self.kept.get(keys)) if m is None]
        if missing:
            self.kept.add(missing, [quantize(self.fp32[k]) for k in missing])
            self.filled += len(missing)
        return [self.fp32[k] for k in keys]


def quality(kb_path: Path, questions: list[Any]) -> dict[str, Any]:
    """Both rerank variants on every answerable question of one set (cached per set)."""
    cache = OUT / "search-latency" / f"{kb_path.name}.json"
    if cache.is_file():
        return dict(json.loads(cache.read_text(encoding="utf-8")))
    rows: dict[str, list[tuple[float, float, float]]] = {"stored": [], "encoded": []}
    differ, worst = 0, 0.0
    with KnowledgeBase.open(kb_path) as kb:
        kept = kb.token_store
        query_time = QueryTimeTokens(kb, kept)
        for q in questions:
            got = {}
            for n, store in (("encoded", query_time), ("stored", kept)):
                kb.__dict__["_token_store"] = store
                got[n] = retrieve(kb, q.question, 10)
                rows[n].append(metrics(ranked_documents([h.source for h in got[n]]), q.gold_sources))
            differ += [h.chunk_id for h in got["stored"]] != [h.chunk_id for h in got["encoded"]]
            worst = max(worst, _maxsim_gap(got["stored"], got["encoded"]))
        kb.__dict__["_token_store"] = kept
        out = {
            "disk": disk_cost(kb),
            "questions": len(questions),
            "chunks": kb.store.stats()["chunks"],
            **{n: summarize(r) for n, r in rows.items()},
            "top10_order_differs": differ,
            "max_maxsim_gap": round(worst, 5),
            "filled_after_ingest": query_time.filled,
        }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


def _maxsim_gap(a: list[Any], b: list[Any]) -> float:
    sa = {h.chunk_id: h.explain["rerank"]["maxsim"] for h in a if "rerank" in h.explain}
    sb = {h.chunk_id: h.explain["rerank"]["maxsim"] for h in b if "rerank" in h.explain}
    return max((abs(sa[c] - sb[c]) for c in sa.keys() & sb.keys()), default=0.0)


def fill_reranked(kb_path: Path, questions: list[str]) -> int:
    """Keep token vectors for the chunks the rerank will read, where the KB was ingested before
    they were kept (as ``kb.fill_token_vectors``, but only for the fused top-10 of these
    questions: the whole KB would cost an ingest's embedding pass); returns how many."""
    with KnowledgeBase.open(kb_path) as kb:
        s = RetrieveSettings()
        top = [fuse(gather(kb, q, s.candidates, term_counts=True), s)[0][: s.rerank_depth] for q in questions]
        ids = list(dict.fromkeys(cid for ranked in top for cid, _ in ranked))
        hits = kb.store.hits(ids)
        keys = [(hits[c].doc_id, section_text(hits[c].section, hits[c].text)) for c in ids]
        missing = [k for k, m in zip(keys, kb.token_store.get(keys)) if m is None]
        if missing:
            kb.token_store.add(
                missing, kb.embed_with_tokens([t for _, t in missing], quantized=True)[1] or []
            )
        return len(missing)


def built_set(name: str) -> tuple[Path, list[Any]]:
    """A set whose KB is already built (no ingest, no wait for another run's ingest lock)."""
    path = questions_path(name) if name != "kestrel" else QUESTIONS
    return OUT / f"{name}-kb", [q for q in load_questions(path) if q.answerable]


# -- latency and disk ---------------------------------------------------------------------------


def latency(kb_path: Path, questions: list[str]) -> dict[str, Any]:
    times: dict[str, list[float]] = {n: [] for n in VARIANTS.values()}
    with KnowledgeBase.open(kb_path) as kb, query_threads():
        for n in times:
            run_query(kb, questions[0], n, 5)  # warm up: sessions, ANN index, caches
        for q in questions:
            for n in times:
                times[n].append(run_query(kb, q, n, 5)[0])
        chunks = kb.store.stats()["chunks"]
    return {"chunks": chunks, "ms": {n: _pcts(t) for n, t in times.items()}}


def _pcts(t: list[float]) -> dict[str, float]:
    s = sorted(t)
    return {"p50": round(statistics.median(s), 2), "p95": round(s[int(0.95 * (len(s) - 1))], 2)}


def disk_cost(kb: KnowledgeBase) -> dict[str, Any]:
    """``tokens.sqlite`` (with its WAL) against the rows it holds, and ``kb.sqlite`` per chunk."""
    tok = kb.token_store.stats()
    store_bytes = sum(p.stat().st_size for p in kb.path.glob("kb.sqlite*") if p.is_file())
    return {
        "token_rows": tok["rows"],
        "token_vectors": tok["token_vectors"],
        "tokens_sqlite_bytes": tok["bytes"],
        "kb_sqlite_bytes": store_bytes,
    }


def disk_summary(quality: dict[str, Any]) -> dict[str, Any]:
    """Per chunk over the KBs ingested with their token vectors (none had to be filled)."""
    full = [r for r in quality.values() if r["disk"]["token_rows"] and not r["filled_after_ingest"]]
    rows = sum(r["chunks"] for r in full)
    tokens = sum(r["disk"]["token_vectors"] for r in full)
    size = sum(r["disk"]["tokens_sqlite_bytes"] for r in full)
    store = sum(r["disk"]["kb_sqlite_bytes"] for r in full)
    return {
        "kbs": len(full),
        "chunks": rows,
        "tokens_per_chunk": round(tokens / max(rows, 1), 1),
        "bytes_per_chunk": round(size / max(rows, 1)),
        "bytes_per_token_vector": round(size / max(tokens, 1), 1),
        "kb_sqlite_bytes_per_chunk": round(store / max(rows, 1)),
        "gb_at_1m_chunks": round(size / max(rows, 1) * 1e6 / 1e9, 1),
    }


def ingest_overhead(kb_path: Path, n: int = 64, reps: int = 3) -> dict[str, Any]:
    """The ingest embedding pass over ``n`` chunk texts with and without keeping their token
    vectors (quantized and written to a scratch ``tokens.sqlite``), interleaved, batch threads."""
    with KnowledgeBase.open(kb_path) as kb, tempfile.TemporaryDirectory() as tmp:
        hits = kb.store.hits(kb.store.chunk_ids()[:n])
        texts = [section_text(h.section, h.text) for h in hits.values()]
        scratch, times = TokenVectorStore(tmp), {"dense only": [], "dense + kept token vectors": []}
        for _ in range(reps):  # best of: the machine is shared
            t0 = time.perf_counter()
            kb.embed(texts)
            times["dense only"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            tokens = kb.embed_with_tokens(texts, quantized=True)[1] or []
            scratch.replace("doc", texts, tokens)
            times["dense + kept token vectors"].append(time.perf_counter() - t0)
        scratch.close()
    best = {k: min(v) for k, v in times.items()}
    return {
        "texts": n,
        "seconds": best,
        "overhead": round(best["dense + kept token vectors"] / best["dense only"] - 1, 3),
    }


# -- report -------------------------------------------------------------------------------------


def main(only: list[str]) -> None:
    t0 = time.perf_counter()
    if only:  # the quality of some sets now (cached), while other KBs are still being built
        for name in only:
            print(name, quality(*built_set(name)))
        return
    sets = question_sets()
    qual = {name: quality(kb_path, qs) for name, (kb_path, qs) in sets.items()}
    big = big_kb(sets)
    per_set = max(1, LATENCY_QUESTIONS // len(sets))
    timed = [q.question for _, qs in sets.values() for q in qs[:: max(1, len(qs) // per_set)][:per_set]]
    filled = fill_reranked(big, timed)
    load = os.getloadavg()[0]
    lat = {**latency(big, timed), "filled_after_merge": filled, "load_1min": [load, os.getloadavg()[0]]}
    overhead = ingest_overhead(next(iter(sets.values()))[0])
    data = {
        "machine": machine(),
        "seconds": round(time.perf_counter() - t0),
        "latency": lat,
        "disk": disk_summary(qual),
        "ingest_overhead": overhead,
        "quality": qual,
    }
    write_results("search_latency", data, report(data, len(timed)))


def report(data: dict[str, Any], n: int) -> str:
    lat, d, o = data["latency"], data["disk"], data["ingest_overhead"]
    lines = [
        f"Default search at {lat['chunks']:,} chunks (the seven sets' KBs merged, then a second copy "
        f"of their documents under other ids): `retrieve` top-5 wall time, ms, {n} questions, one "
        "thread, variants interleaved per question, query embedding included. Load average (1 min) "
        f"on the {data['machine']['cpus']} cores: {lat['load_1min'][0]:.1f} at the start, "
        f"{lat['load_1min'][1]:.1f} at the end (a shared machine: upper bounds)\n",
        "| variant | p50 | p95 |",
        "|---|---|---|",
        *(f"| {v} | {lat['ms'][k]['p50']:.1f} | {lat['ms'][k]['p95']:.1f} |" for v, k in VARIANTS.items()),
        "",
        f"Disk, over the {d['kbs']} KBs ingested with token vectors ({d['chunks']:,} chunks, "
        f"{d['tokens_per_chunk']} content tokens each): `tokens.sqlite` {d['bytes_per_chunk']:,} bytes per chunk, "
        f"{d['bytes_per_token_vector']} per token vector (384 int8 + a 4-byte scale + SQLite); "
        f"**{d['gb_at_1m_chunks']} GB at 1M chunks** (kb.sqlite itself: {d['kb_sqlite_bytes_per_chunk']:,} "
        "bytes per chunk).\n",
        f"Ingest: the embedding pass over {o['texts']} chunks takes {o['seconds']['dense only']:.2f} s for the dense "
        f"vectors alone and {o['seconds']['dense + kept token vectors']:.2f} s with the token vectors kept "
        f"(quantized and written): {o['overhead']:+.0%} (best of 3, interleaved).\n",
        "Rerank quality on the seven question sets, default `retrieve` (k=10, document level): "
        "kept int8 token vectors vs encoded at query time (fp32). Where a KB was ingested before "
        "token vectors were kept, the rows its questions' top 10 need were filled from the same "
        "encoder first (`chunks with kept vectors` < `chunks`).\n",
        "| set | q | chunks | chunks with kept vectors | stored int8 hit@1 / hit@5 / MRR@10 "
        "| query-time fp32 hit@1 / hit@5 / MRR@10 | top-10 order differs | max MaxSim gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in data["quality"].items():
        cells = [
            " / ".join(f"{r[v][m]:.3f}" for m in ("hit@1", "hit@5", "mrr@10")) for v in ("stored", "encoded")
        ]
        lines.append(
            f"| {name} | {r['questions']} | {r['chunks']:,} | {r['disk']['token_rows']:,} | {cells[0]} | "
            f"{cells[1]} | {r['top10_order_differs']} | {r['max_maxsim_gap']:.4f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
