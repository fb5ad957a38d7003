"""Token vectors kept at ingest for the late-interaction reranker (``retrieve/rerank.py``): each
chunk's content token vectors, int8 with one scale per row, in ``tokens.sqlite`` beside the store
in the KB directory (the same file whatever the store backend).

A row is keyed by its document and a hash of the exact text that was encoded (section path and
text, ``Chunk.embed_text``), so it can only ever be used for the very text it was computed from.
Chunk ids are the store's own, assigned inside its transaction; keyed by text instead, a killed
ingest (these rows are committed just before the store's commit of the same document), a KB
copied to another store, or a document removed through another path leave at worst rows that
match nothing - the reranker then encodes those chunks at query time - never wrong ones.
``replace`` swaps a document's rows in one transaction, ``delete`` and ``prune`` remove them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.store.sqlite_integrity import connect_ro, connect_rw, writable

TOKENS_DB = "tokens.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens(
  doc_id TEXT NOT NULL, text_hash BLOB NOT NULL, n INTEGER NOT NULL, scales BLOB NOT NULL,
  data BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_key ON tokens(text_hash, doc_id);
CREATE INDEX IF NOT EXISTS tokens_doc ON tokens(doc_id);
"""
Key = tuple[str, str]
"""(doc_id, the text that was encoded)."""
Quantized = tuple[np.ndarray, np.ndarray]
"""A text's token vectors as ``quantize`` gives them: int8 rows and one fp32 scale per row."""


def text_hash(text: str) -> bytes:
    """16-byte BLAKE2b of the encoded text (the row's identity beside its document)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def quantize(vectors: np.ndarray) -> Quantized:
    """Symmetric int8 per row: ``vectors ~= q * scale[:, None]`` (scale: the row's max |x| / 127)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The fp32 rows back, each scaled to unit length again (MaxSim compares cosines)."""
    rows = q.astype(np.float32) * scale[:, None]
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _row(doc_id: str, text: str, quantized: Quantized) -> tuple[str, bytes, int, bytes, bytes]:
    q, scale = quantized
    return doc_id, text_hash(text), len(q), scale.astype(np.float32).tobytes(), q.astype(np.int8).tobytes()


def _matrix(n: int, scales: bytes, data: bytes) -> np.ndarray:
    q = np.frombuffer(data, dtype=np.int8).reshape(n, -1)
    return dequantize(q, np.frombuffer(scales, dtype=np.float32))


class TokenVectorStore:
    """``tokens.sqlite`` in ``directory``: created by the first write; until then every lookup
    misses (a KB from before token vectors were kept, or one whose embedder gives none)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / TOKENS_DB
        self._con: sqlite3.Connection | None = None

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._con is None and (create or self.path.is_file()):
            if writable(self.directory, self.path):
                self._con = connect_rw(self.path, SCHEMA)
            else:
                self._con = connect_ro(self.path)
        return self._con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        con = self._connect(create=True)
        assert con is not None
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            if con.in_transaction:  # SQLite may have rolled back itself (a full disk): keep its error
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # -- writing ------------------------------------------------------------------------
    def replace(self, doc_id: str, texts: Sequence[str], vectors: Sequence[Quantized]) -> None:
        """The document's rows become these (one per distinct text; ``quantize``d), in one
        transaction."""
        rows = {text_hash(t): _row(doc_id, t, v) for t, v in zip(texts, vectors, strict=True)}
        with self._tx() as con:
            con.execute("DELETE FROM tokens WHERE doc_id=?", (doc_id,))
            con.executemany("INSERT INTO tokens VALUES (?,?,?,?,?)", list(rows.values()))

    def add(self, keys: Sequence[Key], vectors: Sequence[Quantized]) -> None:
        """Rows for these texts, next to the ones already there (filling an older KB)."""
        rows = [_row(d, t, v) for (d, t), v in zip(keys, vectors, strict=True)]
        with self._tx() as con:
            con.executemany("INSERT OR REPLACE INTO tokens VALUES (?,?,?,?,?)", rows)

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Remove the documents' rows; returns how many went."""
        if not doc_ids or self._connect(create=False) is None:
            return 0
        with self._tx() as con:
            return sum(con.execute("DELETE FROM tokens WHERE doc_id=?", (d,)).rowcount for d in doc_ids)

    def prune(self, keep: set[str]) -> int:
        """Remove the rows of every document not in ``keep`` (the store's documents)."""
        return self.delete(sorted(self.documents() - keep))

    def documents(self) -> set[str]:
        """The documents that have rows."""
        con = self._connect(create=False)
        return set() if con is None else {r[0] for r in con.execute("SELECT DISTINCT doc_id FROM tokens")}

    # -- reading ------------------------------------------------------------------------
    def get(self, keys: Sequence[Key]) -> list[np.ndarray | None]:
        """Each text's token vectors (fp32, unit rows), or None where none are kept for it."""
        con = self._connect(create=False)
        if con is None or not keys:
            return [None] * len(keys)
        hashes = [text_hash(t) for _, t in keys]
        marks = ",".join("?" * len(hashes))
        found = {
            (doc, bytes(h)): (n, s, d)
            for doc, h, n, s, d in con.execute(
                f"SELECT doc_id, text_hash, n, scales, data FROM tokens WHERE text_hash IN ({marks})", hashes
            )
        }
        rows = [found.get((doc, h)) for (doc, _), h in zip(keys, hashes)]
        return [None if r is None else _matrix(*r) for r in rows]

    def stats(self) -> dict[str, Any]:
        """Rows, token vectors and bytes on disk (0 when there is no file yet)."""
        con = self._connect(create=False)
        if con is None:
            return {"rows": 0, "token_vectors": 0, "bytes": 0}
        rows, tokens = con.execute("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM tokens").fetchone()
        size = sum(p.stat().st_size for p in self.directory.glob(TOKENS_DB + "*") if p.is_file())
        return {"rows": int(rows), "token_vectors": int(tokens), "bytes": size}

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
