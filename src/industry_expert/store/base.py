"""The Store Protocol: what the pipeline and retrievers need from any backend.

Every backend must pass the contract suite in ``industry_expert.testing.store_contract``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from industry_expert.types import Chunk, DocumentRecord, Hit

Filters = dict[str, str]
"""key=value metadata filters: ``source``, ``type``, ``doc_id``, ``title`` or any ingested field;
a value containing ``*`` or ``?`` is a glob."""

DOC_COLUMNS = ("source", "type", "doc_id", "title", "abs_path")

Upsert = tuple[DocumentRecord, list[Chunk], np.ndarray, np.ndarray]
"""One document for ``upsert_many``: (record, chunks, chunk vectors, summary vector)."""


class Store(Protocol):
    """Constructed as ``Backend(directory, dim, **options)`` and chosen by name through
    ``industry_expert.store.registry``; retrieval and answering see only this Protocol."""

    name: str
    """The backend's registered name (``sqlite-faiss``...), reported by ``kb stats``."""
    dim: int

    def upsert(
        self, doc: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, summary_vector: np.ndarray
    ) -> None:
        """Atomically replace a document and all its chunks (a crash leaves old or new, never a mix)."""
        ...

    def upsert_many(self, items: list[Upsert]) -> None:
        """``upsert`` of several documents in one transaction (bulk loads, copies): a crash leaves
        each document old or new, never a mix; when a doc_id repeats, the last one wins."""
        ...

    def delete(self, doc_ids: list[str]) -> int:
        """Atomically remove documents and their chunks; returns the number of chunks removed."""
        ...

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def documents(self) -> list[DocumentRecord]: ...

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k chunk ids by cosine similarity (vectors are unit length), best first."""
        ...

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Top-k chunk ids by BM25 over chunk text and section path, best first."""
        ...

    def term_frequencies(self, query: str) -> tuple[dict[str, int], int]:
        """Each query word (``text_query.terms``: lower-cased, stop words dropped) with the number of
        chunks that contain its indexed form (0 when none does), and the number of chunks."""
        ...

    def summary_dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k document ids by similarity of their summary vectors."""
        ...

    def summary_lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k document ids by BM25 over title and summary."""
        ...

    def chunk_ids(self) -> list[int]:
        """Every chunk id, in insertion order."""
        ...

    def hits(self, chunk_ids: list[int]) -> dict[int, Hit]:
        """Chunks with their document's source, title and type (score 0)."""
        ...

    def vectors(self, chunk_ids: list[int]) -> np.ndarray: ...

    def summary_vectors(self, doc_ids: list[str]) -> np.ndarray:
        """The documents' summary vectors, in the order given (``expert kb copy`` moves them)."""
        ...

    def log_run(self, started: float, report: dict[str, Any], finished: float | None = None) -> None:
        """Record one finished ingest run (its start time and JSON report; ``finished``: now
        unless given, as when a copy keeps a KB's history)."""
        ...

    def runs(self) -> list[dict[str, Any]]:
        """Every logged run, oldest first: ``{"started", "finished", "report"}``."""
        ...

    def stats(self) -> dict[str, Any]:
        """At least ``documents``, ``chunks``, ``types`` (count per type), ``size_bytes``, ``store``."""
        ...

    def sync(self) -> None:
        """Bring derived indexes (ANN) up to date with committed data and persist them."""
        ...

    def close(self) -> None: ...


class CheckableStore(Protocol):
    """An optional Store method (``expert kb check``); a backend without it says "not supported"."""

    def check(self, repair: bool = False) -> dict[str, list[str]]:
        """``checked`` (what was looked at), ``problems`` (one line each, with the way out; after
        ``repair``, those that remain) and ``repaired`` (what ``repair`` rebuilt from stored data)."""
        ...
