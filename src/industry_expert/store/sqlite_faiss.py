"""Default embedded store: SQLite (documents, chunks, vectors, FTS5 BM25, metadata) + faiss ANN.

Every write is one SQLite transaction (WAL), so a killed process leaves the last committed state.
The faiss index is a cache derived from SQLite (see ``ann.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.errors import KBError
from industry_expert.store import sqlite_health
from industry_expert.store.ann import HNSW_EF_SEARCH, AnnIndex
from industry_expert.store.base import DOC_COLUMNS, Filters, Upsert
from industry_expert.store.sqlite_health import GuardedConnection, damage_error
from industry_expert.store.sqlite_integrity import (
    check_database_file,
    check_dimensions,
    connect_ro,
    connect_rw,
    writable,
)
from industry_expert.store.text_query import terms
from industry_expert.types import Chunk, DocumentRecord, Hit

DB_NAME = "kb.sqlite"
EXACT_FILTERED_MAX = 20_000
"""Filtered dense search is exact when the filter leaves at most this many chunks."""
_TOKENIZE = "porter unicode61 tokenchars '-_'"
PRUNE_DF = 2000
"""Query terms more common than this (and than 2% of chunks) are left out of BM25 queries."""
DF_SNAPSHOT_DRIFT = 0.1
"""The common terms' chunk counts (``term_df``, taken at ``sync``) decide pruning while the KB's
chunk count is within this share of the count they were taken at; beyond it, terms are counted
live until the next ``sync`` takes them again."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS documents(
  doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, abs_path TEXT NOT NULL, type TEXT NOT NULL,
  title TEXT NOT NULL, content_hash TEXT NOT NULL, file_hash TEXT NOT NULL, summary TEXT NOT NULL,
  summary_vec BLOB NOT NULL, n_chunks INTEGER NOT NULL, metadata TEXT NOT NULL,
  ingested_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS documents_abs ON documents(abs_path);
CREATE TABLE IF NOT EXISTS chunks(
  chunk_id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL REFERENCES documents(doc_id),
  ordinal INTEGER NOT NULL, text TEXT NOT NULL, section TEXT NOT NULL, page INTEGER,
  metadata TEXT NOT NULL, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  section, text, content='chunks', content_rowid='chunk_id', tokenize="{_TOKENIZE}");
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, section, text) VALUES (new.chunk_id, new.section, new.text); END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, section, text)
  VALUES ('delete', old.chunk_id, old.section, old.text); END;
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
  title, summary, content='documents', content_rowid='rowid', tokenize="{_TOKENIZE}");
CREATE TRIGGER IF NOT EXISTS docs_ai AFTER INSERT ON documents BEGIN
  INSERT INTO docs_fts(rowid, title, summary) VALUES (new.rowid, new.title, new.summary); END;
CREATE TRIGGER IF NOT EXISTS docs_ad AFTER DELETE ON documents BEGIN
  INSERT INTO docs_fts(docs_fts, rowid, title, summary)
  VALUES ('delete', old.rowid, old.title, old.summary); END;
CREATE TABLE IF NOT EXISTS term_df(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_runs(
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL,
  report TEXT);
"""
TEMP_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, 'chunks_fts', 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms USING fts5(t, tokenize="{_TOKENIZE}");
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms_vocab USING fts5vocab(temp, 'query_terms', 'instance');
"""
_GLOB = re.compile(r"[*?\[]")


def _blob(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


class SQLiteFaissStore:
    """The default store: one directory, no server."""

    name = "sqlite-faiss"

    def __init__(self, directory: str | Path, dim: int, hnsw_ef_search: int = HNSW_EF_SEARCH) -> None:
        """``hnsw_ef_search``: the HNSW search width above ``ann.EXACT_BELOW`` chunks (settings:
        ``store.options.hnsw_ef_search``); wider finds more of the exact top-k, slower."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        db = self.directory / DB_NAME
        check_database_file(self.directory, db)
        _check_not_lost(self.directory, db)
        self.readonly = not writable(self.directory, db)
        if not self.readonly:
            for tmp in self.directory.glob(".ann-*.tmp"):
                tmp.unlink(missing_ok=True)  # left by a killed writer
        try:
            con = connect_ro(db) if self.readonly else connect_rw(db, SCHEMA)
            con.executescript(TEMP_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise damage_error(db, exc) or KBError(f"{db}: cannot open the KB database: {exc}") from None
        self.con = GuardedConnection(con, db)
        check_dimensions(self.con, self.directory, dim)  # type: ignore[arg-type]
        self.ann = AnnIndex(self.directory, dim, hnsw_ef_search)
        self._ann_generation = -1
        self._summary_cache: tuple[int, list[str], np.ndarray] | None = None
        self._count_cache: tuple[int, int] = (-1, 0)
        self._vocab_memo: tuple[tuple[int, tuple[str, ...]], list[tuple[int, str, int]]] = ((-1, ()), [])
        self._df_fresh: tuple[int, bool] = (-1, False)

    # -- writing ------------------------------------------------------------------------
    def _tx(self) -> _Transaction:
        if self.readonly:
            raise KBError(
                f"{self.directory}: this knowledge base is read-only here; it can be searched, but "
                "changing it needs write permission (or a writable copy)"
            )
        return _Transaction(self.con)

    def _bump(self) -> None:
        self.con.execute(
            "INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def generation(self) -> int:
        row = self.con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def upsert(
        self, doc: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, summary_vector: np.ndarray
    ) -> None:
        self.upsert_many([(doc, chunks, vectors, summary_vector)])

    def upsert_many(self, items: list[Upsert]) -> None:
        """Replace several documents in one transaction: each whole or not at all, as ``upsert``."""
        for doc, chunks, vectors, summary_vector in items:
            self._check(doc, chunks, vectors, summary_vector)
        items = list({item[0].doc_id: item for item in items}.values())  # the last of a doc_id wins
        with self._tx():
            for doc, *_ in items:
                self._delete_one(doc.doc_id)
            self.con.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (doc.doc_id, doc.source, doc.abs_path, doc.type, doc.title, doc.content_hash,
                     doc.file_hash, doc.summary, _blob(svec), len(chunks),
                     json.dumps(doc.metadata, ensure_ascii=False), doc.ingested_at or time.time())
                    for doc, chunks, _, svec in items
                ],
            )  # fmt: skip
            self.con.executemany(
                "INSERT INTO chunks(doc_id, ordinal, text, section, page, metadata, vec) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (doc.doc_id, c.ordinal, c.text, c.section, c.page,
                     json.dumps(c.metadata, ensure_ascii=False), _blob(v))
                    for doc, chunks, vectors, _ in items
                    for c, v in zip(chunks, vectors)
                ],
            )  # fmt: skip
            self._bump()

    def _check(
        self, doc: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, summary_vector: np.ndarray
    ) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{doc.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        for vec in (vectors, summary_vector):
            got = int(np.shape(vec)[-1]) if np.size(vec) else self.dim
            if got != self.dim:
                raise KBError(
                    f"{doc.source}: the embedder returned {got}-d vectors but this KB holds "
                    f"{self.dim}-d vectors (did the embedding endpoint change models?); nothing of "
                    "this document was written"
                )

    def _delete_one(self, doc_id: str) -> int:
        removed = self.con.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,)).rowcount
        self.con.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return removed

    def delete(self, doc_ids: list[str]) -> int:
        with self._tx():
            removed = sum(self._delete_one(d) for d in doc_ids)
            self._bump()
        return removed

    def log_run(self, started: float, report: dict[str, Any], finished: float | None = None) -> None:
        with self._tx():
            self.con.execute(
                "INSERT INTO ingest_runs(started, finished, report) VALUES (?,?,?)",
                (started, finished or time.time(), json.dumps(report)),
            )

    def runs(self) -> list[dict[str, Any]]:
        rows = self.con.execute("SELECT started, finished, report FROM ingest_runs ORDER BY run_id")
        return [{"started": s, "finished": f, "report": json.loads(r or "{}")} for s, f, r in rows]

    # -- reading documents ---------------------------------------------------------------
    _DOC_SELECT = (
        "SELECT doc_id, source, abs_path, type, title, content_hash, summary, "
        "file_hash, n_chunks, metadata, ingested_at FROM documents"
    )

    @staticmethod
    def _doc(row: tuple) -> DocumentRecord:
        return DocumentRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            json.loads(row[9]),
            row[10],
        )

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        row = self.con.execute(self._DOC_SELECT + " WHERE doc_id=?", (doc_id,)).fetchone()
        return self._doc(row) if row else None

    def documents(self) -> list[DocumentRecord]:
        return [self._doc(r) for r in self.con.execute(self._DOC_SELECT + " ORDER BY source")]

    # -- filters -----------------------------------------------------------------------
    @staticmethod
    def _where(filters: Filters | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for key, value in (filters or {}).items():
            op = "GLOB" if _GLOB.search(value) else "="
            if key in DOC_COLUMNS:
                clauses.append(f"d.{key} {op} ?")
            elif not re.fullmatch(r"[\w.\- ]+", key):
                raise KBError(f"invalid filter field name '{key}'")
            else:
                path = f"'$.\"{key}\"'"
                clauses.append(
                    f"CAST(COALESCE(json_extract(c.metadata, {path}), "
                    f"json_extract(d.metadata, {path})) AS TEXT) {op} ?"
                )
            params.append(value)
        return (" AND ".join(clauses) or "1"), params

    def _allowed(self, filters: Filters) -> list[int]:
        where, params = self._where(filters)
        sql = f"SELECT c.chunk_id FROM chunks c JOIN documents d USING(doc_id) WHERE {where}"
        return [r[0] for r in self.con.execute(sql, params)]

    # -- searching ---------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        if filters:
            allowed = self._allowed(filters)
            if len(allowed) <= EXACT_FILTERED_MAX:
                return self._exact(vector, allowed, k)
            return self._filtered_ann(vector, allowed, k)
        return self._ann_search(vector, k)

    def _filtered_ann(self, vector: np.ndarray, allowed: list[int], k: int) -> list[tuple[int, float]]:
        """ANN search filtered afterwards, widened until k allowed hits are found (a query close to
        the excluded chunks finds none among its first neighbours); exact over the allowed as the
        last resort."""
        keep, fetch, total = set(allowed), k * 10, self._chunk_count()
        while fetch < total:
            hits = [h for h in self._ann_search(vector, fetch) if h[0] in keep]
            if len(hits) >= k:
                return hits[:k]
            fetch *= 8
        return self._exact(vector, allowed, k)

    def _exact(self, vector: np.ndarray, ids: list[int], k: int) -> list[tuple[int, float]]:
        if not ids:
            return []
        mat = self.vectors(ids)
        scores = mat @ vector.astype(np.float32).ravel()
        top = np.argsort(-scores)[:k]
        return [(ids[i], float(scores[i])) for i in top]

    def _ann_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self._ensure_ann()
        hits = self.ann.search(vector, k + 16)
        live = self._existing([i for i, _ in hits])
        return [h for h in hits if h[0] in live][:k]

    def _existing(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {
            r[0] for r in self.con.execute(f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({marks})", ids)
        }

    def _prunable(self, query_terms: list[str]) -> list[str]:
        """Drop the query terms found in more than PRUNE_DF chunks (and 2% of them) when at least
        two rarer terms remain. FTS5 scores every chunk that matches any term, so very common
        terms dominate the cost on large KBs while adding little to BM25 (their IDF is low)."""
        total = self._chunk_count()
        if total <= PRUNE_DF or len(query_terms) <= 2:
            return query_terms
        limit = max(PRUNE_DF, 0.02 * total)
        df = self._term_counts(query_terms, common_only=True)
        rare = [t for t in query_terms if df[t] <= limit]
        return rare if len(rare) >= 2 else sorted(query_terms, key=df.__getitem__)[:2]

    def _vocab(self, query_terms: list[str], common_only: bool = False) -> list[tuple[int, str, int]]:
        """(position of the query word, its indexed token, chunks containing that token). Counting
        a common term's chunks live reads its whole posting list (~13 ms per query at 1M chunks),
        so pruning (``common_only``: exact counts of common terms, 0 for the rest) reads them from
        the snapshot ``sync`` takes while it is fresh. The last live answer is kept: one query may
        ask twice (term weights, then pruning)."""
        snapshot = common_only and self._df_snapshot_fresh()
        key = (self.generation(), tuple(query_terms))
        if not snapshot and self._vocab_memo[0] == key:
            return self._vocab_memo[1]
        self.con.execute("DELETE FROM temp.query_terms")
        self.con.executemany(
            "INSERT INTO temp.query_terms(rowid, t) VALUES (?, ?)", list(enumerate(query_terms, 1))
        )
        count, table = ("v.df", "term_df") if snapshot else ("v.doc", "temp.chunks_vocab")
        rows = self.con.execute(
            f"SELECT q.doc, q.term, COALESCE({count}, 0) FROM temp.query_terms_vocab q "
            f"LEFT JOIN {table} v ON v.term = q.term"
        ).fetchall()
        if not snapshot:
            self._vocab_memo = (key, rows)
        return rows

    def _df_snapshot(self) -> tuple[int, bool]:
        """The chunk count the common terms' counts were taken at (0: never), and whether the KB
        is still within ``DF_SNAPSHOT_DRIFT`` of it."""
        row = self.con.execute("SELECT value FROM meta WHERE key='term_df_chunks'").fetchone()
        taken = int(row[0]) if row else 0
        return taken, bool(taken) and abs(self._chunk_count() - taken) / taken <= DF_SNAPSHOT_DRIFT

    def _df_snapshot_fresh(self) -> bool:
        gen = self.generation()
        if self._df_fresh[0] != gen:
            self._df_fresh = (gen, self._df_snapshot()[1])
        return self._df_fresh[1]

    def _take_df_snapshot(self) -> None:
        """Chunk counts of the terms common enough to matter for pruning (a second of reading the
        whole vocabulary at 1M chunks), taken again once the KB has grown or shrunk by more than
        ``DF_SNAPSHOT_DRIFT``."""
        total = self._chunk_count()
        taken, fresh = self._df_snapshot()
        if fresh or (total <= PRUNE_DF and not taken):
            return
        with self._tx():
            self.con.execute("DELETE FROM term_df")
            self.con.execute(
                "INSERT INTO term_df(term, df) SELECT term, doc FROM temp.chunks_vocab WHERE doc >= ?",
                (PRUNE_DF // 2,),
            )
            self.con.execute(
                "INSERT INTO meta(key, value) VALUES('term_df_chunks', ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value",
                (str(total),),
            )
        self._df_fresh = (-1, False)

    def _term_counts(self, words: list[str], common_only: bool = False) -> dict[str, int]:
        """Chunks containing each query word (its most common indexed token)."""
        df = dict.fromkeys(words, 0)
        for position, _, count in self._vocab(words, common_only) if words else []:
            df[words[position - 1]] = max(df[words[position - 1]], count)
        return df

    def term_frequencies(self, query: str) -> tuple[dict[str, int], int]:
        return self._term_counts(terms(query)), self._chunk_count()

    def _chunk_count(self) -> int:
        gen = self.generation()
        if self._count_cache[0] != gen:
            self._count_cache = (gen, int(self.con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]))
        return self._count_cache[1]

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        match = " OR ".join(f'"{t}"' for t in self._prunable(terms(query)))
        if not match:
            return []
        where, params = self._where(filters)
        join = "JOIN chunks c ON c.chunk_id = f.rowid JOIN documents d USING(doc_id)" if filters else ""
        sql = (
            f"SELECT f.rowid, -bm25(chunks_fts, 0.6, 1.0) AS s FROM chunks_fts f {join} "
            f"WHERE chunks_fts MATCH ? AND {where} ORDER BY bm25(chunks_fts, 0.6, 1.0) LIMIT ?"
        )
        return [(int(r), float(s)) for r, s in self.con.execute(sql, [match, *params, k])]

    def summary_lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        match = " OR ".join(f'"{t}"' for t in self._prunable(terms(query)))  # as ``lexical``
        if not match:
            return []
        sql = (
            "SELECT d.doc_id, -bm25(docs_fts, 1.0, 1.0) FROM docs_fts f JOIN documents d "
            "ON d.rowid = f.rowid WHERE docs_fts MATCH ? ORDER BY bm25(docs_fts, 1.0, 1.0) LIMIT ?"
        )
        return [(d, float(s)) for d, s in self.con.execute(sql, (match, k))]

    def summary_vectors(self, doc_ids: list[str]) -> np.ndarray:
        marks = ",".join("?" * len(doc_ids))
        rows = dict(
            self.con.execute(f"SELECT doc_id, summary_vec FROM documents WHERE doc_id IN ({marks})", doc_ids)
        )
        return np.array([np.frombuffer(rows[d], dtype=np.float32) for d in doc_ids]).reshape(
            len(doc_ids), self.dim
        )

    def summary_dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        gen = self.generation()
        if self._summary_cache is None or self._summary_cache[0] != gen:
            rows = self.con.execute("SELECT doc_id, summary_vec FROM documents").fetchall()
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            self._summary_cache = (gen, [r[0] for r in rows], mat.reshape(len(rows), self.dim))
        _, ids, mat = self._summary_cache
        if not ids:
            return []
        scores = mat @ vector.astype(np.float32).ravel()
        top = np.argsort(-scores)[:k]
        return [(ids[i], float(scores[i])) for i in top]

    def chunk_ids(self) -> list[int]:
        return [r[0] for r in self.con.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]

    def hits(self, chunk_ids: list[int]) -> dict[int, Hit]:
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        sql = (
            "SELECT c.chunk_id, c.doc_id, c.text, c.section, c.page, c.metadata, d.source, "
            f"d.type, d.title FROM chunks c JOIN documents d USING(doc_id) "
            f"WHERE c.chunk_id IN ({marks})"
        )
        out = {}
        for cid, doc_id, text, section, page, meta, source, dtype, title in self.con.execute(sql, chunk_ids):
            out[cid] = Hit(
                source=source,
                section=section,
                page=page,
                score=0.0,
                text=text,
                doc_id=doc_id,
                chunk_id=cid,
                type=dtype,
                title=title,
                metadata=json.loads(meta),
            )
        return out

    def vectors(self, chunk_ids: list[int]) -> np.ndarray:
        out = np.zeros((len(chunk_ids), self.dim), dtype=np.float32)
        pos = {cid: i for i, cid in enumerate(chunk_ids)}
        for start in range(0, len(chunk_ids), 900):
            part = chunk_ids[start : start + 900]
            marks = ",".join("?" * len(part))
            for cid, vec in self.con.execute(
                f"SELECT chunk_id, vec FROM chunks WHERE chunk_id IN ({marks})", part
            ):
                out[pos[cid]] = np.frombuffer(vec, dtype=np.float32)
        return out

    # -- the derived ANN index ------------------------------------------------------------
    def _batches(self, after: int, upto: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        cur = self.con.execute(
            "SELECT chunk_id, vec FROM chunks WHERE chunk_id > ? AND chunk_id <= ? ORDER BY chunk_id",
            (after, upto),
        )
        while rows := cur.fetchmany(4096):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            yield ids, vecs.reshape(len(rows), self.dim)

    def _ensure_ann(self, persist: bool = False) -> None:
        gen = self.generation()
        if gen == self._ann_generation and not persist:
            return
        live, db_max = self.con.execute("SELECT COUNT(*), COALESCE(MAX(chunk_id), 0) FROM chunks").fetchone()
        db_max = max(db_max, self._seq())

        def upto(max_id: int) -> int:
            return int(
                self.con.execute("SELECT COUNT(*) FROM chunks WHERE chunk_id <= ?", (max_id,)).fetchone()[0]
            )

        changed = self.ann.sync(live, upto, db_max, self._batches)
        if changed or persist:
            try:
                self.ann.save()
            except (OSError, RuntimeError):
                pass  # read-only KB or a full disk: the in-memory index still serves this process
        self._ann_generation = gen

    def rebuild_ann(self) -> None:
        """Rebuild the vector index from the stored vectors and save it (``kb check --repair``)."""
        live, db_max = self.con.execute("SELECT COUNT(*), COALESCE(MAX(chunk_id), 0) FROM chunks").fetchone()
        self.ann.rebuild(live, max(db_max, self._seq()), self._batches)
        self.ann.save()
        self._ann_generation = self.generation()

    def check(self, repair: bool = False) -> dict[str, list[str]]:
        """The optional ``CheckableStore`` method behind ``expert kb check`` (``sqlite_health``)."""
        return sqlite_health.check(self, repair)

    def _seq(self) -> int:
        row = self.con.execute("SELECT seq FROM sqlite_sequence WHERE name='chunks'").fetchone()
        return int(row[0]) if row else 0

    def sync(self) -> None:
        self._ensure_ann(persist=True)
        if not self.readonly:
            self._take_df_snapshot()

    # -- housekeeping ------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        docs, chunks = self.con.execute(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)"
        ).fetchone()
        by_type = dict(self.con.execute("SELECT type, COUNT(*) FROM documents GROUP BY type"))
        size = sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())
        if self.ann.index is None:
            self.ann.load()
        return {
            "documents": docs,
            "chunks": chunks,
            "types": by_type,
            "size_bytes": size,
            "ann_index": self.ann.kind,
            "store": self.name,
        }

    def close(self) -> None:
        self.con.close()


_TRACES = (".ingest.lock", "tokens.sqlite", f"{DB_NAME}-wal")
"""Files only a KB that held data leaves (a bare manifest, as written before a first ingest or
by hand, still opens as a new empty KB)."""


def _check_not_lost(directory: Path, db: Path) -> None:
    """A KB whose database is gone (its manifest and traces of ingests remain) is damage: never
    opened as a new empty KB."""
    if db.is_file() and db.stat().st_size > 0 or not (directory / "manifest.json").is_file():
        return
    if any((directory / name).exists() for name in _TRACES):
        raise KBError(
            f"{db}: the KB database is missing (manifest.json and traces of earlier ingests remain); "
            "restore kb.sqlite from a backup, or re-ingest into a new --kb folder"
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (unless SQLite already rolled it
    back, as after a full disk or damage: the original error is the one reported)."""

    def __init__(self, con: GuardedConnection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            try:
                self.con.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.con.in_transaction:
            try:
                self.con.execute("ROLLBACK")
            except (sqlite3.Error, KBError):
                pass  # the error that stopped the transaction says more
