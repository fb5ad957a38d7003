"""The embedded store (SQLite + faiss) and PostgreSQL + pgvector side by side at scale: ingest rate,
hybrid top-10 latency p50/p95 with 1 and 8 concurrent clients, memory and disk, and ANN recall@10
against exact search.

Data: chunk text drawn from the sample company's vocabulary; vectors = mixtures of two real chunk
embeddings plus noise of a quarter of their length (``NOISE``); queries are the real sample
questions embedded once by the bundled model (latency below excludes that embedding;
``query_embed_ms`` gives it). Both stores get the very same documents, chunks and vectors.

    python bench/scale_stores.py --chunks 100000            # one row per store, kept beside others
    python bench/scale_stores.py --chunks 1000000 --phase build && \\
        python bench/scale_stores.py --chunks 1000000 --phase measure   # the issue's size
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
from industry_expert.config import RetrieveSettings, Settings
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import normalize
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.types import Chunk, DocumentRecord

CHUNKS_PER_DOC = 50
DOCS_PER_BATCH = 20
"""Documents per ``upsert_many`` call (one transaction each): 1,000 chunks."""
NOISE = 0.25
"""Noise added to each mixed vector, as a fraction of its length. (The first 100k run used 0.25 per
dimension, ~5x the signal: near-random vectors whose exact top-10 are near-ties, recall@10 0.46.)"""
CLIENTS = (1, 8)
STORE_ONLY = RetrieveSettings(rerank="none")
"""The stores' hybrid search (fusion) without the reranking stage, whose cost (encoding the best
10 chunks) is the same at any KB size: bench/results/retrieval_latency.md measures it."""


def sample(kb_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with KnowledgeBase.open(kb_dir) as kb:
        ids = kb.store.chunk_ids()
        words = [w for h in kb.store.hits(ids).values() for w in h.text.split() if w.isascii()]
        return kb.store.vectors(ids), np.asarray(words)  # an array: rng.choice on a list copies it


def documents(n_chunks: int, vecs: np.ndarray, words: np.ndarray):  # type: ignore[no-untyped-def]
    """The same synthetic documents every time (seeded): (record, chunks, vectors, summary vector)."""
    rng = np.random.default_rng(0)
    for d in range(n_chunks // CHUNKS_PER_DOC):
        doc_id = f"syn{d:07d}"
        chunks = [
            Chunk(doc_id, i, " ".join(rng.choice(words, 60)), f"Synthetic {d} > Part {i % 7}")
            for i in range(CHUNKS_PER_DOC)
        ]
        a, b = rng.integers(0, len(vecs), (2, CHUNKS_PER_DOC))
        noise = NOISE / np.sqrt(vecs.shape[1]) * rng.normal(size=vecs[a].shape).astype(np.float32)
        mix = normalize(vecs[a] + 0.5 * vecs[b] + noise)
        record = DocumentRecord(
            doc_id, f"synthetic/doc{d}.txt", f"/synthetic/doc{d}.txt", "text", f"Synthetic {d}",
            f"h{d}", " ".join(rng.choice(words, 40)), file_hash=f"h{d}",
        )  # fmt: skip
        yield record, chunks, mix.astype(np.float32), mix[0]


def build(
    kb_dir: Path, settings: Settings, n: int, vecs: np.ndarray, words: np.ndarray
) -> tuple[dict, np.ndarray]:  # type: ignore[type-arg]
    shutil.rmtree(kb_dir, ignore_errors=True)
    kb = KnowledgeBase.create(kb_dir, settings)
    all_vecs = []
    insert_s = 0.0  # the store's time only, not the synthetic data's generation
    batch: list = []  # type: ignore[type-arg]
    for item in documents(n, vecs, words):
        batch.append(item)
        all_vecs.append(item[2])
        if len(batch) == DOCS_PER_BATCH or len(all_vecs) * CHUNKS_PER_DOC >= n:
            t0 = time.perf_counter()
            kb.store.upsert_many(batch)
            insert_s += time.perf_counter() - t0
            batch = []
    t0 = time.perf_counter()
    kb.store.sync()
    index_s = time.perf_counter() - t0
    kb.close()
    return {
        "insert_s": insert_s,
        "index_s": index_s,
        "chunks_per_s": n / (insert_s + index_s),
    }, np.concatenate(all_vecs)


def latencies(kb_dir: Path, queries: list[str], qvecs: np.ndarray, clients: int) -> tuple[list[float], float]:
    """Hybrid top-10 latency (ms) of every query, and the mean CPU time (ms) a query used: its
    thread's, plus its PostgreSQL backend's. On a loaded machine latency grows with the load, CPU
    time hardly does. Each client thread borrows its own KB handle, as the server's threads do."""
    import psutil

    out: list[float] = []
    cpu: list[float] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        with KnowledgeBase.open(kb_dir) as kb:
            retrieve(kb, queries[0], k=10, query_vector=qvecs[0], settings=STORE_ONLY)  # warm up (ANN load)
            con = getattr(kb.store, "con", None)
            backend = psutil.Process(con.info.backend_pid) if hasattr(con, "info") else None
            b0, c0 = sum(backend.cpu_times()[:2]) if backend else 0.0, time.thread_time()
            mine = []
            for i in range(c, len(queries) * 2, clients):
                q = i % len(queries)
                t0 = time.perf_counter()
                retrieve(kb, queries[q], k=10, query_vector=qvecs[q], settings=STORE_ONLY)
                mine.append((time.perf_counter() - t0) * 1000)
            used = time.thread_time() - c0 + (sum(backend.cpu_times()[:2]) - b0 if backend else 0.0)
            with lock:
                out.extend(mine)
                cpu.append(used * 1000)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, sum(cpu) / len(out)


def exact_top10(kb_dir: Path, qvecs: np.ndarray, all_vecs: np.ndarray) -> list[set[int]]:
    with KnowledgeBase.open(kb_dir) as kb:
        ids = np.array(kb.store.chunk_ids())
    return [set(ids[np.argsort(-(all_vecs @ q))[:10]].tolist()) for q in qvecs]


def recall(
    kb_dir: Path,
    qvecs: np.ndarray,
    exact: list[set[int]],
    options: dict | None = None,  # type: ignore[type-arg]
) -> tuple[float, float]:
    """ANN recall@10 of the store's dense search against exact inner-product search, and the ms
    per dense search."""
    with KnowledgeBase.open(kb_dir, store_options=options) as kb:
        kb.store.dense(qvecs[0], 10)  # warm up
        found = []
        t0 = time.perf_counter()
        for q, e in zip(qvecs, exact):
            found.append(len(e & {i for i, _ in kb.store.dense(q, 10)}) / 10)
        ms = (time.perf_counter() - t0) * 1000 / len(qvecs)
    return float(np.mean(found)), ms


def sweep(name: str, kb_dir: Path, qvecs: np.ndarray, widths: list[int]) -> dict[str, dict[str, float]]:
    """Recall@10 and dense-search time at other HNSW search widths on a built KB. Measured on the
    reported vectors, so these are not used to choose defaults (``scale_ann_recall.py`` is)."""
    exact = exact_top10(kb_dir, qvecs, np.load(kb_dir.with_suffix(".vectors.npy"), mmap_mode="r"))
    out = {}
    for w in widths:
        r, ms = recall(kb_dir, qvecs, exact, {"hnsw_ef_search": w})
        out[str(w)] = {"recall@10": r, "dense_ms": ms}
        print(name, w, out[str(w)], flush=True)
    return out


def footprint(kb_dir: Path, pg_pid: int | None, qvecs: np.ndarray) -> dict[str, float]:
    """Disk of the store; memory: PSS of the PostgreSQL server processes, or what opening the
    embedded KB and searching it adds to this process (SQLite cache + the faiss index)."""
    import psutil

    me = psutil.Process()
    before = me.memory_info().rss
    with KnowledgeBase.open(kb_dir) as kb:
        for q in qvecs[:20]:
            retrieve(kb, "pump seal", k=10, query_vector=q, settings=STORE_ONLY)
        disk = kb.store.stats()["size_bytes"]
        mem = me.memory_info().rss - before
        if pg_pid:
            server = psutil.Process(pg_pid)
            mem = sum(p.memory_full_info().pss for p in [server, *server.children(recursive=True)])
    return {"disk_mb": disk / 1048576, "mem_mb": mem / 1048576}


def measure(name: str, kb_dir: Path, pg_pid: int | None, queries: list[str], qvecs: np.ndarray) -> dict:  # type: ignore[type-arg]
    """Memory, disk, latency with 1 and 8 clients, recall@10 of a KB built by ``build`` (its
    timings and vectors beside it)."""
    import os

    row = json.loads(kb_dir.with_suffix(".build.json").read_text(encoding="utf-8"))
    row.update(footprint(kb_dir, pg_pid, qvecs))
    row["load_avg_1min"] = os.getloadavg()[0]  # a shared machine: other work runs alongside
    for clients in CLIENTS:
        wall, cpu = latencies(kb_dir, queries, qvecs, clients)
        row[f"p50_ms_{clients}"] = float(np.percentile(wall, 50))
        row[f"p95_ms_{clients}"] = float(np.percentile(wall, 95))
        row[f"cpu_ms_{clients}"] = cpu
    exact = exact_top10(kb_dir, qvecs, np.load(kb_dir.with_suffix(".vectors.npy"), mmap_mode="r"))
    row["recall@10"], row["dense_ms"] = recall(kb_dir, qvecs, exact)
    print(name, row, flush=True)
    return row


def table(runs: dict, embed_ms: float, n_queries: int) -> str:  # type: ignore[type-arg]
    lines = [
        "| chunks | store | ingest (chunks/s: insert + index) | hybrid p50 / p95, 1 client | "
        "CPU per query, 1 client | p50 / p95, 8 clients | ANN recall@10 | disk | memory | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, results in sorted(runs.items(), key=lambda kv: int(kv[0])):
        for name, r in results.items():
            lines.append(
                f"| {int(size):,} | {name} | {r['chunks_per_s']:.0f} ({r['insert_s']:.0f} s + "
                f"{r['index_s']:.0f} s) | {r['p50_ms_1']:.1f} / {r['p95_ms_1']:.1f} ms | "
                f"{r.get('cpu_ms_1', float('nan')):.1f} ms | "
                f"{r['p50_ms_8']:.1f} / "
                f"{r['p95_ms_8']:.1f} ms | {r['recall@10']:.3f} | {r['disk_mb']:.0f} MB | "
                f"{r['mem_mb']:.0f} MB | {r.get('load_avg_1min', float('nan')):.1f} |"
            )
    return (
        f"Embedded vs PostgreSQL ({n_queries} real questions x 2 per client; query embedding excluded, "
        f"{embed_ms:.1f} ms per query on top). Ingest: the store's own time for batches of "
        f"{DOCS_PER_BATCH} documents x {CHUNKS_PER_DOC} chunks (``upsert_many``), then the ANN index build "
        "(``sync``). Memory: PostgreSQL = PSS of its server processes; embedded = what opening and "
        "searching the KB adds to the client process. Load avg: the machine's 1-minute load when "
        "the latencies were taken (2 cores, shared with other jobs); CPU per query: the mean CPU time "
        "of a query's thread and its PostgreSQL backend (1 client), about what a query takes on an idle core.\n\n"
        + "\n".join(lines)
    )


def write_sweep(chunks: int, sweeps: dict) -> None:  # type: ignore[type-arg]
    lines = ["| store | search width | recall@10 | ms per dense search |", "|---|---|---|---|"]
    for name, rows in sweeps.items():
        lines += [f"| {name} | {w} | {r['recall@10']:.3f} | {r['dense_ms']:.1f} |" for w, r in rows.items()]
    text = (
        f"HNSW search width at {chunks:,} chunks (``scale_stores.py --phase sweep``; the vectors "
        "scale_stores.md reports on, so not used to choose defaults: scale_ann_recall.md is).\n\n"
        + "\n".join(lines)
    )
    write_results(
        f"scale_ann_sweep_{chunks}", {"machine": machine(), "chunks": chunks, "sweeps": sweeps}, text
    )


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument(
        "--sample-kb", type=Path, help="an existing sample-company KB (default: built under bench/out)"
    )
    ap.add_argument("--stores", default="sqlite-faiss,postgresql", help="run only these (results are merged)")
    ap.add_argument(
        "--phase", choices=("all", "build", "measure", "sweep"), default="all",
        help="build: build and keep the KBs; measure: measure KBs kept by a build run (e.g. when the "
        "machine is quieter), then remove them",
    )  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the measured KBs (to measure again)")
    ap.add_argument("--widths", default="100,200,400,800,1600", help="--phase sweep: HNSW search widths")
    args = ap.parse_args()
    vecs, words = sample(args.sample_kb or sample_kb())
    queries = [q.question for q in load_questions(QUESTIONS)]
    with KnowledgeBase.open(args.sample_kb or sample_kb()) as kb:
        t0 = time.perf_counter()
        qvecs = kb.embed(queries)
        embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    results, sweeps = {}, {}
    with pgserver.get_server(OUT / "pg-scale") as server:
        stores = {
            "sqlite-faiss": Settings(),
            "postgresql": Settings.from_dict({"store": {"backend": "postgresql", "url": server.get_uri()}}),
        }
        for name, settings in stores.items():
            if name not in args.stores.split(","):
                continue
            kb_dir = OUT / f"scale-{name}-{args.chunks}"
            if args.phase in ("all", "build"):
                built, all_vecs = build(kb_dir, settings, args.chunks, vecs, words)
                np.save(kb_dir.with_suffix(".vectors.npy"), all_vecs)  # beside the KB, not in its size
                kb_dir.with_suffix(".build.json").write_text(json.dumps(built), encoding="utf-8")
                print(name, "built", built, flush=True)
                del all_vecs
            if args.phase == "build":
                continue
            if args.phase == "sweep":
                sweeps[name] = sweep(name, kb_dir, qvecs, [int(w) for w in args.widths.split(",")])
                continue
            results[name] = measure(
                name, kb_dir, server.get_pid() if name == "postgresql" else None, queries, qvecs
            )
            if args.keep:
                continue
            if name == "postgresql":
                with KnowledgeBase.open(kb_dir) as kb:
                    kb.store.drop()  # type: ignore[attr-defined]
            shutil.rmtree(kb_dir, ignore_errors=True)
            for suffix in (".vectors.npy", ".build.json"):
                kb_dir.with_suffix(suffix).unlink(missing_ok=True)
    if sweeps:
        write_sweep(args.chunks, sweeps)
    if not results:
        return
    previous = RESULTS / "scale_stores.json"
    runs = json.loads(previous.read_text(encoding="utf-8")).get("runs", {}) if previous.is_file() else {}
    runs[str(args.chunks)] = {**runs.get(str(args.chunks), {}), **results}  # other stores/sizes kept
    write_results(
        "scale_stores",
        {"machine": machine(), "query_embed_ms": embed_ms, "noise": NOISE, "runs": runs},
        table(runs, embed_ms, len(queries)),
    )


if __name__ == "__main__":
    main()
