"""The embedded store (SQLite + faiss) and PostgreSQL + pgvector side by side at scale: ingest rate,
hybrid top-10 latency p50/p95 with 1 and 8 concurrent clients, memory and disk, and ANN recall@10
against exact search.

Data as in ``retrieval_latency.py``: chunk text drawn from the sample company's vocabulary, vectors
= mixtures of two real chunk embeddings plus noise; queries are the real sample questions embedded
once by the bundled model (latency below excludes that embedding; ``query_embed_p50_ms`` gives it).
Both stores get the very same documents, chunks and vectors.

    python bench/scale_stores.py --chunks 100000            # what bench/results holds
    python bench/scale_stores.py --chunks 1000000           # the issue's size (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from _common import OUT, QUESTIONS, RESULTS, machine, sample_kb, write_results
from industry_expert.config import Settings
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import normalize
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.types import Chunk, DocumentRecord

CHUNKS_PER_DOC = 50
CLIENTS = (1, 8)


def sample(kb_dir: Path) -> tuple[np.ndarray, list[str]]:
    with KnowledgeBase.open(kb_dir) as kb:
        ids = kb.store.chunk_ids()
        words = [w for h in kb.store.hits(ids).values() for w in h.text.split() if w.isascii()]
        return kb.store.vectors(ids), words


def documents(n_chunks: int, vecs: np.ndarray, words: list[str]):  # type: ignore[no-untyped-def]
    """The same synthetic documents every time (seeded): (record, chunks, vectors, summary vector)."""
    rng = np.random.default_rng(0)
    for d in range(n_chunks // CHUNKS_PER_DOC):
        doc_id = f"syn{d:07d}"
        chunks = [
            Chunk(doc_id, i, " ".join(rng.choice(words, 60)), f"Synthetic {d} > Part {i % 7}")
            for i in range(CHUNKS_PER_DOC)
        ]
        a, b = rng.integers(0, len(vecs), (2, CHUNKS_PER_DOC))
        mix = normalize(vecs[a] + 0.5 * vecs[b] + 0.25 * rng.normal(size=vecs[a].shape).astype(np.float32))
        record = DocumentRecord(
            doc_id, f"synthetic/doc{d}.txt", f"/synthetic/doc{d}.txt", "text", f"Synthetic {d}",
            f"h{d}", " ".join(rng.choice(words, 40)), file_hash=f"h{d}",
        )  # fmt: skip
        yield record, chunks, mix.astype(np.float32), mix[0]


def build(
    kb_dir: Path, settings: Settings, n: int, vecs: np.ndarray, words: list[str]
) -> tuple[dict, np.ndarray]:  # type: ignore[type-arg]
    shutil.rmtree(kb_dir, ignore_errors=True)
    kb = KnowledgeBase.create(kb_dir, settings)
    all_vecs = []
    t0 = time.perf_counter()
    for record, chunks, mix, svec in documents(n, vecs, words):
        kb.store.upsert(record, chunks, mix, svec)
        all_vecs.append(mix)
    insert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    kb.store.sync()
    index_s = time.perf_counter() - t0
    kb.close()
    return {
        "insert_s": insert_s,
        "index_s": index_s,
        "chunks_per_s": n / (insert_s + index_s),
    }, np.concatenate(all_vecs)


def latencies(kb_dir: Path, queries: list[str], qvecs: np.ndarray, clients: int) -> list[float]:
    """Hybrid top-10 latency (ms) of every query, each client thread with its own connection."""
    out: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        with KnowledgeBase.open(kb_dir) as kb:
            retrieve(kb, queries[0], k=10, query_vector=qvecs[0])  # warm up (ANN index load)
            mine = []
            for i in range(c, len(queries) * 2, clients):
                q = i % len(queries)
                t0 = time.perf_counter()
                retrieve(kb, queries[q], k=10, query_vector=qvecs[q])
                mine.append((time.perf_counter() - t0) * 1000)
            with lock:
                out.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def recall(kb_dir: Path, qvecs: np.ndarray, all_vecs: np.ndarray) -> float:
    """ANN recall@10 of the store's dense search against exact inner-product search."""
    with KnowledgeBase.open(kb_dir) as kb:
        ids = np.array(kb.store.chunk_ids())
        found = []
        for q in qvecs:
            exact = set(ids[np.argsort(-(all_vecs @ q))[:10]].tolist())
            got = {i for i, _ in kb.store.dense(q, 10)}
            found.append(len(exact & got) / 10)
    return float(np.mean(found))


def footprint(kb_dir: Path, pg_pid: int | None, qvecs: np.ndarray) -> dict[str, float]:
    """Disk of the store; memory: PSS of the PostgreSQL server processes, or what opening the
    embedded KB and searching it adds to this process (SQLite cache + the faiss index)."""
    import psutil

    me = psutil.Process()
    before = me.memory_info().rss
    with KnowledgeBase.open(kb_dir) as kb:
        for q in qvecs[:20]:
            retrieve(kb, "pump seal", k=10, query_vector=q)
        disk = kb.store.stats()["size_bytes"]
        mem = me.memory_info().rss - before
        if pg_pid:
            server = psutil.Process(pg_pid)
            mem = sum(p.memory_full_info().pss for p in [server, *server.children(recursive=True)])
    return {"disk_mb": disk / 1048576, "mem_mb": mem / 1048576}


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument(
        "--sample-kb", type=Path, help="an existing sample-company KB (default: built under bench/out)"
    )
    ap.add_argument("--stores", default="sqlite-faiss,postgresql", help="run only these (results are merged)")
    args = ap.parse_args()
    vecs, words = sample(args.sample_kb or sample_kb())
    queries = [q.question for q in load_questions(QUESTIONS)]
    with KnowledgeBase.open(args.sample_kb or sample_kb()) as kb:
        t0 = time.perf_counter()
        qvecs = kb.embed(queries)
        embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    results = {}
    with pgserver.get_server(OUT / "pg-scale") as server:
        stores = {
            "sqlite-faiss": Settings(),
            "postgresql": Settings.from_dict({"store": {"backend": "postgresql", "url": server.get_uri()}}),
        }
        for name, settings in stores.items():
            if name not in args.stores.split(","):
                continue
            kb_dir = OUT / f"scale-{name}"
            built, all_vecs = build(kb_dir, settings, args.chunks, vecs, words)
            row = {**built, **footprint(kb_dir, server.get_pid() if name == "postgresql" else None, qvecs)}
            for clients in CLIENTS:
                ms = latencies(kb_dir, queries, qvecs, clients)
                row[f"p50_ms_{clients}"] = float(np.percentile(ms, 50))
                row[f"p95_ms_{clients}"] = float(np.percentile(ms, 95))
            row["recall@10"] = recall(kb_dir, qvecs, all_vecs)
            results[name] = row
            print(name, row, flush=True)
            if name == "postgresql":
                with KnowledgeBase.open(kb_dir) as kb:
                    kb.store.drop()  # type: ignore[attr-defined]
            shutil.rmtree(kb_dir, ignore_errors=True)
    previous = RESULTS / "scale_stores.json"
    if previous.is_file():  # a run of the other store(s) at the same size: one table
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old.get("chunks") == args.chunks:
            results = {**{k: v for k, v in old["results"].items() if k not in results}, **results}
    lines = [
        "| store | ingest (chunks/s, insert + index) | hybrid p50 / p95, 1 client | p50 / p95, 8 clients | "
        "ANN recall@10 | disk | memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['chunks_per_s']:.0f} ({r['insert_s']:.0f} s + {r['index_s']:.0f} s) | "
            f"{r['p50_ms_1']:.1f} / {r['p95_ms_1']:.1f} ms | {r['p50_ms_8']:.1f} / {r['p95_ms_8']:.1f} ms | "
            f"{r['recall@10']:.3f} | {r['disk_mb']:.0f} MB | {r['mem_mb']:.0f} MB |"
        )
    text = (
        f"Embedded vs PostgreSQL at {args.chunks:,} chunks ({len(queries)} real questions x 2 per client; "
        f"query embedding excluded, {embed_ms:.1f} ms per query on top). Memory: PostgreSQL = PSS of its "
        "server processes; embedded = what opening and searching the KB adds to the client process.\n\n"
        + "\n".join(lines)
    )
    write_results(
        "scale_stores",
        {"machine": machine(), "chunks": args.chunks, "query_embed_ms": embed_ms, "results": results},
        text,
    )


if __name__ == "__main__":
    main()
