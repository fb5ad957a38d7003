"""Ingest throughput (chunks/s, end to end) next to the embedder's own raw throughput on the same
chunk texts, in the same run. Goal: ingest >= 0.8 x raw."""

from __future__ import annotations

import shutil
import time

from _common import DATA, OUT, machine, write_results
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import load_embedder


def main() -> None:
    embedder = load_embedder("minilm")
    embedder.embed_batch(["warm-up"] * 8)  # model files in the page cache, kernels warmed
    kb_dir = OUT / "throughput-kb"
    shutil.rmtree(kb_dir, ignore_errors=True)
    report = ingest([str(DATA)], kb_dir)
    with KnowledgeBase.open(kb_dir) as kb:
        hits = kb.store.hits(kb.store.chunk_ids())
        texts = [f"{h.section}\n{h.text}" if h.section else h.text for h in hits.values()]
        summaries = [f"{d.title}\n{d.summary}" for d in kb.store.documents()]
    t0 = time.perf_counter()
    embedder.embed_batch(texts + summaries)
    raw_seconds = time.perf_counter() - t0
    raw = len(texts) / raw_seconds
    ratio = report.chunks_per_second / raw
    text = (
        f"Ingest of the sample data ({len(report.files)} files, {report.chunks_added} chunks)\n\n"
        "| measure | chunks/s | seconds |\n|---|---|---|\n"
        f"| raw embedder (same chunk texts + summaries, batch 32) | {raw:.1f} | {raw_seconds:.1f} |\n"
        f"| `expert ingest` end to end (parse, chunk, embed, store, index) | "
        f"{report.chunks_per_second:.1f} | {report.seconds:.1f} |\n\n"
        f"Ratio ingest/raw: {ratio:.2f} (goal >= 0.8). Time inside embedding calls during ingest: "
        f"{report.embed_seconds:.1f} s."
    )
    write_results(
        "ingest_throughput",
        {
            "machine": machine(),
            "chunks": report.chunks_added,
            "files": len(report.files),
            "raw_chunks_per_second": raw,
            "ingest_chunks_per_second": report.chunks_per_second,
            "ratio": ratio,
            "ingest_seconds": report.seconds,
            "ingest_embed_seconds": report.embed_seconds,
            "raw_seconds": raw_seconds,
        },
        text,
    )


if __name__ == "__main__":
    main()
