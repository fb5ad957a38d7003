"""Ingest throughput (chunks/s, end to end) with the old embedder path (sentence-transformers on
torch, spec ``minilm-torch``) and the new one (the same MiniLM exported to ONNX, run by
onnxruntime with length-sorted batches, spec ``minilm``), next to each embedder alone on the same
chunk texts (the ceiling), all in one run on the sample company's data. Default thread settings
unless IE_NUM_THREADS is set. Quality: the two paths' vectors are compared chunk by chunk.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np

from _common import DATA, OUT, machine, write_results
from industry_expert.config import Settings
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import load_embedder
from industry_expert.models.threads import batch_threads

SPECS = {"old: torch (minilm-torch)": "minilm-torch", "new: onnx (minilm)": "minilm"}


def chunk_texts(kb_dir) -> list[str]:  # type: ignore[no-untyped-def]
    with KnowledgeBase.open(kb_dir) as kb:
        hits = kb.store.hits(kb.store.chunk_ids())
        texts = [f"{h.section}\n{h.text}" if h.section else h.text for h in hits.values()]
        summaries = [f"{d.title}\n{d.summary}" for d in kb.store.documents()]
    return texts + summaries


def run(spec: str) -> dict:
    embedder = load_embedder(spec)
    embedder.embed_batch(["warm-up"] * 8)  # model files in the page cache, kernels warmed
    kb_dir = OUT / f"throughput-{spec}-kb"
    shutil.rmtree(kb_dir, ignore_errors=True)
    report = ingest([str(DATA)], kb_dir, Settings(embedder=spec), explicit={"embedder"})
    texts = chunk_texts(kb_dir)
    t0 = time.perf_counter()
    vectors = embedder.embed_batch(texts)
    raw_seconds = time.perf_counter() - t0
    return {
        "chunks": report.chunks_added,
        "ingest_chunks_per_second": report.chunks_per_second,
        "ingest_seconds": report.seconds,
        "ingest_embed_seconds": report.embed_seconds,
        "raw_chunks_per_second": report.chunks_added / raw_seconds,
        "raw_seconds": raw_seconds,
        "vectors": vectors,
    }


def main() -> None:
    load_before = os.getloadavg()[0]
    results = {name: run(spec) for name, spec in SPECS.items()}
    load = (load_before, os.getloadavg()[0])
    old, new = results.values()
    cos = np.sum(old.pop("vectors") * new.pop("vectors"), axis=1)
    speedup = new["ingest_chunks_per_second"] / old["ingest_chunks_per_second"]
    lines = [
        f"Ingest of the sample data ({old['chunks']} chunks), old and new embedder path in one run",
        "",
        "| embedder path | `expert ingest` chunks/s | embedder alone chunks/s (ceiling) | ingest/ceiling | ingest s | embedding s |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | **{r['ingest_chunks_per_second']:.1f}** | {r['raw_chunks_per_second']:.1f} | "
            f"{r['ingest_chunks_per_second'] / r['raw_chunks_per_second']:.2f} | {r['ingest_seconds']:.1f} | {r['ingest_embed_seconds']:.1f} |"
        )
    lines += [
        "",
        f"Ingest speed-up new/old: **{speedup:.2f}x** (goal >= 2x). Same vectors: min cosine "
        f"{cos.min():.7f} over {len(cos)} chunk and summary texts, so retrieval quality is unchanged.",
        f"Threads: {batch_threads()} for ingest batches. Load average (1 min) on the {os.cpu_count()} "
        f"cores: {load[0]:.1f} at the start, {load[1]:.1f} at the end (shared machine: upper bounds).",
    ]
    write_results(
        "ingest_throughput",
        {
            "machine": machine(),
            "loadavg": load,
            "results": results,
            "speedup": speedup,
            "min_cosine": float(cos.min()),
        },
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
