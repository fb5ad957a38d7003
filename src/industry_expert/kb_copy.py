"""``expert kb copy SRC DST``: move a knowledge base between stores (either direction).

Vectors are copied, never re-embedded; documents keep their ids, summaries, metadata and ingest
history; the copy is verified (documents, chunks per document, a checksum of every vector) before
the new manifest is written, so a failed or interrupted copy leaves no KB behind at ``DST`` (run it
again: documents are upserted by id, so a second run finishes the first one's work). The
reranker's token vectors kept at ingest (``tokens.sqlite``, beside any store) are copied too, as a
consistent snapshot limited to the copied documents, so the copy's search reranks from them
instead of encoding passages at query time; a source without them gives a copy without them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.errors import KBError
from industry_expert.io import write_json_atomic
from industry_expert.kb import MANIFEST, KnowledgeBase
from industry_expert.store import registry
from industry_expert.store.base import Store
from industry_expert.store.sqlite_integrity import connect_ro
from industry_expert.store.token_vectors import TOKENS_DB, TokenVectorStore
from industry_expert.types import Chunk, DocumentRecord

BATCH = 4096
"""Chunks read from the source per round trip."""


@dataclass
class CopyReport:
    src: str
    dst: str
    src_store: str
    dst_store: str
    documents: int
    chunks: int
    runs: int
    seconds: float
    verified: bool
    token_vectors: int = 0
    """Rows of kept token vectors copied (0: the source keeps none)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_kb(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    store: str | None = None,
    store_options: dict[str, Any] | None = None,
) -> CopyReport:
    """Copy the KB at ``src`` into a new KB directory ``dst`` backed by ``store`` (a backend name, or a
    ``postgresql://`` URL; default ``sqlite-faiss``)."""
    t0 = time.perf_counter()
    dst = Path(dst)
    if (dst / MANIFEST).is_file():
        raise KBError(f"{dst}: a knowledge base already exists here; copy into a new directory")
    backend, options = _target(store, store_options)
    with KnowledgeBase.open(src) as source:
        dim = int(source.manifest["embedder"]["dim"])
        dst.mkdir(parents=True, exist_ok=True)
        target = registry.open_store(dst, dim, backend, options)
        try:
            counts = _copy_documents(source.store, target)
            runs = source.store.runs()
            for run in runs:
                target.log_run(run["started"], run["report"], finished=run["finished"])
            target.sync()
            _verify(source.store, target, counts)
            tokens = copy_token_vectors(source.path, dst, set(counts))
            recorded = getattr(target, "recorded_options", lambda: options)()
            manifest = {**source.manifest, "store": registry.recordable(backend, recorded)}
            manifest["copied_from"] = {"kb": str(src), "store": source.manifest.get("store"), "at": _now()}
            write_json_atomic(dst / MANIFEST, manifest)
            src_store = source.store.name
        finally:
            target.close()
    return CopyReport(
        str(src), str(dst), src_store, backend, len(counts), sum(c for c, _ in counts.values()),
        len(runs), round(time.perf_counter() - t0, 2), True, tokens,
    )  # fmt: skip


def _target(store: str | None, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    options = dict(options or {})
    if store and store.startswith(("postgresql://", "postgres://")):
        options.setdefault("dsn", store)
        store = "postgresql"
    return registry.check_name(store or registry.DEFAULT_BACKEND), options


def _copy_documents(source: Store, target: Store) -> dict[str, tuple[int, float]]:
    """Upsert every document with its chunks and vectors; ``doc_id -> (chunks, vector checksum)``."""
    docs = {d.doc_id: d for d in source.documents()}
    pending: dict[str, list[tuple[int, Any, np.ndarray]]] = {d: [] for d in docs}
    counts: dict[str, tuple[int, float]] = {}
    ids = source.chunk_ids()
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        hits, vecs = source.hits(part), source.vectors(part)
        for cid, vec in zip(part, vecs):
            hit = hits.get(cid)
            if hit is None or hit.doc_id not in docs:
                continue  # removed while copying: the document is re-read whole below
            pending[hit.doc_id].append((cid, hit, vec))
            if len(pending[hit.doc_id]) == docs[hit.doc_id].n_chunks:
                counts[hit.doc_id] = _write(target, source, docs[hit.doc_id], pending.pop(hit.doc_id))
    for doc_id, rows in pending.items():
        if len(rows) != docs[doc_id].n_chunks:
            raise KBError(f"{doc_id}: {len(rows)} chunks found, manifest says {docs[doc_id].n_chunks}")
        counts[doc_id] = _write(target, source, docs[doc_id], rows)
    return counts


def _write(
    target: Store, source: Store, doc: DocumentRecord, rows: list[tuple[int, Any, np.ndarray]]
) -> tuple[int, float]:
    rows.sort(key=lambda r: r[0])
    chunks = [Chunk(doc.doc_id, i, h.text, h.section, h.page, h.metadata) for i, (_, h, _) in enumerate(rows)]
    vectors = np.array([v for _, _, v in rows], dtype=np.float32).reshape(len(rows), target.dim)
    target.upsert(doc, chunks, vectors, source.summary_vectors([doc.doc_id])[0])
    return len(chunks), float(np.abs(vectors).sum())


def _verify(source: Store, target: Store, counts: dict[str, tuple[int, float]]) -> None:
    want, got = source.stats(), target.stats()
    if (want["documents"], want["chunks"]) != (got["documents"], got["chunks"]):
        raise KBError(
            f"copy verification failed: source has {want['documents']} documents / {want['chunks']} "
            f"chunks, target {got['documents']} / {got['chunks']}"
        )
    by_doc: dict[str, list[int]] = {}
    ids = target.chunk_ids()
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        for cid, hit in target.hits(part).items():
            by_doc.setdefault(hit.doc_id, []).append(cid)
    for doc_id, (n, checksum) in counts.items():
        cids = by_doc.get(doc_id, [])
        total = float(np.abs(target.vectors(cids)).sum()) if cids else 0.0
        if len(cids) != n or not np.isclose(total, checksum, rtol=1e-5):
            raise KBError(f"copy verification failed for document {doc_id}: {len(cids)} of {n} chunks")


def copy_token_vectors(src: Path, dst: Path, documents: set[str]) -> int:
    """Copy ``src/tokens.sqlite`` to ``dst`` with SQLite's online backup (a consistent snapshot even
    while an ingest writes to it), keeping only the rows of ``documents``; returns the rows kept.
    No file at ``src``: none at ``dst`` (a file left by an interrupted earlier copy is removed)."""
    for old in dst.glob(TOKENS_DB + "*"):
        old.unlink()
    if not (src / TOKENS_DB).is_file():
        return 0
    part = dst / f"{TOKENS_DB}.part"
    part.unlink(missing_ok=True)
    with closing(connect_ro(src / TOKENS_DB)) as a, closing(sqlite3.connect(part)) as b:
        a.backup(b)
    os.replace(part, dst / TOKENS_DB)
    store = TokenVectorStore(dst)
    try:
        store.prune(documents)
        return int(store.stats()["rows"])
    finally:
        store.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
