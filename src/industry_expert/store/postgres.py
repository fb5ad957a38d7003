"""PostgreSQL + pgvector store: a server a company already operates (replicas, backups, Citus).

One schema per KB, so several KBs share a database. Dense search: pgvector, exact below
``EXACT_BELOW`` chunks and HNSW above it (``hnsw_m``, ``hnsw_ef_construction``, ``hnsw_ef_search``;
``ef_search`` 400: recall@10 0.991 at 100k vectors where 100 gave 0.908, ``bench/results/scale_ann_recall.md``).
Lexical search: BM25 computed in SQL from ``tsvector`` term frequencies and per-KB term statistics
(``lexical="bm25"``, the default, chosen on measurements: see ``bench/results/pg_lexical.md``), or
PostgreSQL's ``ts_rank`` (``lexical="fts"``); both use a GIN index to find candidates. Every write is
one transaction under a per-KB advisory lock, so readers see a document whole or not at all and
concurrent writers (ingest runs, server workers) never interleave their term statistics.
Passwords never reach the manifest: libpq reads ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.errors import KBError
from industry_expert.store import postgres_sql as q
from industry_expert.store.base import DOC_COLUMNS, Filters, Upsert
from industry_expert.store.text_query import terms
from industry_expert.types import Chunk, DocumentRecord, Hit

EXACT_BELOW = 20_000
"""Below this many chunks dense search is exact (no HNSW index yet); ``sync`` builds it above."""
EXACT_FILTERED_MAX = 20_000
"""Filtered dense search is exact when the filter leaves at most this many chunks."""
PRUNE_DF = 2000
"""Query terms in more than this many chunks (and 2% of them) are left out, as in the embedded store."""
BUILD_MEMORY_MAX_MB = 4096
"""The most ``maintenance_work_mem`` one HNSW build asks for (a million 384-d chunks need ~3 GB)."""
EF_SEARCH_MAX = 1000
"""pgvector's largest ``hnsw.ef_search``."""
LEXICAL = ("bm25", "fts")
_INDEX = "chunks_vec_hnsw"


def default_schema(directory: Path) -> str:
    """``kb_<dirname>_<hash of the absolute path>``: stable for one KB directory."""
    path = Path(directory).resolve()
    name = re.sub(r"[^a-z0-9_]+", "_", path.name.lower()).strip("_")[:40] or "kb"
    return f"kb_{name}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


class PostgresStore:
    """Implements the Store Protocol on one schema of a PostgreSQL database with pgvector."""

    name = "postgresql"

    def __init__(
        self,
        directory: str | Path,
        dim: int,
        dsn: str = "",
        schema: str | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 64,
        hnsw_ef_search: int = 400,
        lexical: str = "bm25",
    ) -> None:
        if not dsn:
            raise KBError("the postgresql store needs a connection URL (--store postgresql://USER@HOST/DB)")
        if not 1 <= hnsw_ef_search <= EF_SEARCH_MAX:
            raise KBError(
                f"postgresql store: hnsw_ef_search must be 1..{EF_SEARCH_MAX} (pgvector's limit), "
                f"got {hnsw_ef_search}"
            )
        if lexical not in LEXICAL:
            raise KBError(f"postgresql store: lexical must be one of {', '.join(LEXICAL)}, got '{lexical}'")
        self.dim, self.dsn, self.lexical_kind = dim, dsn, lexical
        self.schema = q.check_schema(schema or default_schema(Path(directory)))
        self.hnsw = {"m": hnsw_m, "ef_construction": hnsw_ef_construction, "ef_search": hnsw_ef_search}
        self._stems: dict[str, str] = {}
        self._has_index = False
        self.con = self._connect()

    # -- connection and schema ----------------------------------------------------------
    def _connect(self) -> Any:
        import psycopg
        from pgvector.psycopg import register_vector

        try:
            con = psycopg.connect(self.dsn, autocommit=True, connect_timeout=15)
        except psycopg.Error as exc:
            raise KBError(f"cannot connect to PostgreSQL ({_safe(self.dsn)}): {str(exc).strip()}") from exc
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(hashtext('industry-expert:schema'))")
            try:
                con.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise KBError(f"PostgreSQL: the pgvector extension is not available: {exc}") from exc
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            con.execute(f'SET search_path TO "{self.schema}", public')
            con.execute(q.schema_sql(self.dim))
        register_vector(con)
        con.execute(f'SET search_path TO "{self.schema}", public')
        con.execute(f"SET hnsw.ef_search = {int(self.hnsw['ef_search'])}")
        self._check_dim(con)
        return con

    def _check_dim(self, con: Any) -> None:
        row = con.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'vec'"
        ).fetchone()
        if row and row[0] != self.dim:
            raise KBError(f"schema {self.schema}: vectors are {row[0]}-d, not {self.dim}-d")

    def recorded_options(self) -> dict[str, Any]:
        """What the KB manifest records to reopen this store (no password)."""
        return {
            "dsn": _safe(self.dsn),
            "schema": self.schema,
            "hnsw_m": self.hnsw["m"],
            "hnsw_ef_construction": self.hnsw["ef_construction"],
            "hnsw_ef_search": self.hnsw["ef_search"],
            "lexical": self.lexical_kind,
        }

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction holding this KB's write lock (transaction-scoped advisory lock)."""
        with self.con.transaction():
            self.con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema + ":write",))
            yield self.con

    @contextmanager
    def ingest_lock(self) -> Iterator[None]:
        """Hold this KB's ingest lock (session advisory lock) or fail at once if another ingest has it."""
        key = self.schema + ":ingest"
        if not self.con.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
            raise KBError(f"schema {self.schema}: another ingest is running on this knowledge base")
        try:
            yield
        finally:
            self.con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    # -- writing --------------------------------------------------------------------------
    def _stem_map(self, toks: set[str]) -> dict[str, str]:
        missing = [t for t in toks if t not in self._stems]
        if missing:
            if len(self._stems) > 200_000:
                self._stems.clear()
            self._stems.update(dict(self.con.execute(q.STEM_SQL, (missing,)).fetchall()))
        return self._stems

    def upsert(
        self, doc: DocumentRecord, chunks: list[Chunk], vectors: np.ndarray, summary_vector: np.ndarray
    ) -> None:
        self.upsert_many([(doc, chunks, vectors, summary_vector)])

    def upsert_many(self, items: list[Upsert]) -> None:
        """Replace several documents in one transaction (COPY for both tables, the BM25 statistics
        updated once for the batch): each document whole or not at all, as with ``upsert``."""
        for doc, chunks, vectors, _ in items:
            if len(chunks) != len(vectors):
                raise ValueError(f"{doc.source}: {len(chunks)} chunks but {len(vectors)} vectors")
        items = list({item[0].doc_id: item for item in items}.values())  # the last of a doc_id wins
        doc_rows, chunk_rows = self._rows(items)
        ids = [item[0].doc_id for item in items]
        with self._tx() as con:
            self._delete_many(con, ids)
            for table, columns, rows in (
                ("documents", q.DOC_COPY, doc_rows),
                ("chunks", q.CHUNK_COPY, chunk_rows),
            ):
                with con.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            self._count_terms(con, ids, +1)

    def _rows(self, items: list[Upsert]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """COPY rows of the documents and their chunks (term vectors built here, stems looked up
        once for the batch)."""
        texts = [[(q.tokens(c.text), q.tokens(c.section)) for c in chunks] for _, chunks, _, _ in items]
        heads = [(q.tokens(d.title), q.tokens(d.summary)) for d, _, _, _ in items]
        words = {t for pairs in [*texts, heads] for pair in pairs for part in pair for t in part}
        stems = self._stem_map(words)
        doc_rows, chunk_rows = [], []
        for (doc, chunks, vectors, svec), pairs, head in zip(items, texts, heads):
            tsv, length, tf = q.tsvector_literal([(head[0], "A"), (head[1], "A")], stems)
            doc_rows.append(
                (doc.doc_id, doc.source, doc.abs_path, doc.type, doc.title, doc.content_hash, doc.file_hash,
                 doc.summary, q.vector_text(svec), len(chunks), _json(doc.metadata),
                 doc.ingested_at or time.time(), tsv, _json(tf), length)
            )  # fmt: skip
            for c, v, (text, section) in zip(chunks, vectors, pairs):
                tsv, length, tf = q.tsvector_literal([(text, "A"), (section, "B")], stems)
                chunk_rows.append(
                    (doc.doc_id, c.ordinal, c.text, c.section, c.page, _json(c.metadata), q.vector_text(v),
                     tsv, _json(tf), length)
                )  # fmt: skip
        return doc_rows, chunk_rows

    def _count_terms(self, con: Any, doc_ids: list[str], sign: int) -> None:
        """Add (+1) or remove (-1) documents' chunks and summaries from the BM25 statistics."""
        for scope, table in (("c", "chunks"), ("d", "documents")):
            con.execute(
                f"INSERT INTO term_stats(scope, term, df) SELECT %s, v.lexeme, %s * COUNT(*) "
                f"FROM {table} x, jsonb_object_keys(x.tf) v(lexeme) WHERE x.doc_id = ANY(%s) "
                "GROUP BY v.lexeme ORDER BY v.lexeme "
                "ON CONFLICT (scope, term) DO UPDATE SET df = term_stats.df + EXCLUDED.df",
                (scope, sign, doc_ids),
            )
            con.execute(
                f"UPDATE corpus_stats s SET n = s.n + %s * x.n, total_len = s.total_len + %s * x.len "
                f"FROM (SELECT COUNT(*) AS n, COALESCE(SUM(dl), 0) AS len FROM {table} "
                "WHERE doc_id = ANY(%s)) x WHERE s.scope = %s",
                (sign, sign, doc_ids, scope),
            )

    def _delete_many(self, con: Any, doc_ids: list[str]) -> int:
        self._count_terms(con, doc_ids, -1)
        removed = con.execute("DELETE FROM chunks WHERE doc_id = ANY(%s)", (doc_ids,)).rowcount
        con.execute("DELETE FROM documents WHERE doc_id = ANY(%s)", (doc_ids,))
        return int(removed)

    def delete(self, doc_ids: list[str]) -> int:
        with self._tx() as con:
            return self._delete_many(con, list(dict.fromkeys(doc_ids)))

    def log_run(self, started: float, report: dict[str, Any], finished: float | None = None) -> None:
        self.con.execute(
            "INSERT INTO ingest_runs(started, finished, report) VALUES (%s, %s, %s)",
            (started, finished or time.time(), _json(report)),
        )

    def runs(self) -> list[dict[str, Any]]:
        rows = self.con.execute("SELECT started, finished, report FROM ingest_runs ORDER BY run_id")
        return [{"started": s, "finished": f, "report": r or {}} for s, f, r in rows]

    # -- reading documents -------------------------------------------------------------
    _DOC_SELECT = (
        "SELECT doc_id, source, abs_path, type, title, content_hash, summary, file_hash, n_chunks, "
        "metadata, ingested_at FROM documents"
    )

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        row = self.con.execute(self._DOC_SELECT + " WHERE doc_id = %s", (doc_id,)).fetchone()
        return DocumentRecord(*row) if row else None

    def documents(self) -> list[DocumentRecord]:
        return [DocumentRecord(*r) for r in self.con.execute(self._DOC_SELECT + " ORDER BY source, doc_id")]

    # -- filters ---------------------------------------------------------------------------
    @staticmethod
    def _where(filters: Filters | None, chunk: str = "c") -> tuple[str, list[Any]]:
        clauses, params = [], []
        for key, value in (filters or {}).items():
            glob = bool(re.search(r"[*?\[]", value))
            op, arg = ("~", q.glob_regex(value)) if glob else ("=", value)
            if key in DOC_COLUMNS:
                clauses.append(f"d.{key} {op} %s")
            else:
                clauses.append(f"COALESCE({chunk}.metadata ->> %s, d.metadata ->> %s) {op} %s")
                params += [key, key]
            params.append(arg)
        return (" AND ".join(clauses) or "TRUE"), params

    # -- searching ----------------------------------------------------------------------
    def _index_ready(self) -> bool:
        if not self._has_index:
            row = self.con.execute("SELECT to_regclass(%s)", (f'"{self.schema}".{_INDEX}',)).fetchone()
            self._has_index = row[0] is not None
        return self._has_index

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        qv = _vec(vector)
        if not filters:
            sql = "SELECT chunk_id, -(vec <#> %s) FROM chunks ORDER BY vec <#> %s LIMIT %s"
            return [(int(i), float(s)) for i, s in self.con.execute(sql, (qv, qv, k))]
        where, params = self._where(filters)
        base = f"FROM chunks c JOIN documents d USING(doc_id) WHERE {where}"
        if self._index_ready():
            n = self.con.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0]
            if n > EXACT_FILTERED_MAX:
                return self._ann_filtered(qv, k, where, params)
        sql = (
            f"SELECT c.chunk_id, -(c.vec <#> %s) AS s {base} ORDER BY (c.vec <#> %s) + 0, c.chunk_id LIMIT %s"
        )
        return [(int(i), float(s)) for i, s in self.con.execute(sql, [qv, *params, qv, k])]

    def _ann_filtered(self, qv: Any, k: int, where: str, params: list[Any]) -> list[tuple[int, float]]:
        """HNSW candidates (10x k) filtered afterwards, as the embedded store does above its limit."""
        fetch = k * 10
        with self.con.transaction():
            width = min(max(fetch, int(self.hnsw["ef_search"])), EF_SEARCH_MAX)
            self.con.execute(f"SET LOCAL hnsw.ef_search = {width}")
            sql = (
                "SELECT c.chunk_id, -a.dist FROM (SELECT chunk_id, vec <#> %s AS dist FROM chunks "
                "ORDER BY vec <#> %s LIMIT %s) a JOIN chunks c USING(chunk_id) JOIN documents d "
                f"USING(doc_id) WHERE {where} ORDER BY a.dist LIMIT %s"
            )
            rows = self.con.execute(sql, [qv, qv, fetch, *params, k]).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def _query_terms(self, query: str, scope: str, prune: bool) -> tuple[list[str], list[float], float]:
        """Stemmed query terms present in the KB, their BM25 IDF (FTS5's formula), and the mean length."""
        words = terms(query)
        if not words:
            return [], [], 1.0
        rows = self.con.execute(q.QUERY_TERMS_SQL, {"terms": words, "scope": scope}).fetchall()
        found = [(stem, df) for stem, df, _, _ in rows if df > 0]
        n, total = (rows[0][2], rows[0][3]) if rows else (0, 0.0)
        if prune and n > PRUNE_DF and len(found) > 2:
            limit = max(PRUNE_DF, 0.02 * n)
            rare = [(s, df) for s, df in found if df <= limit]
            found = rare if len(rare) >= 2 else sorted(found, key=lambda x: x[1])[:2]
        idf = [max(float(np.log((n - df + 0.5) / (df + 0.5))), 1e-6) for _, df in found]
        return [s for s, _ in found], idf, (total / n if n else 1.0)

    def term_frequencies(self, query: str) -> tuple[dict[str, int], int]:
        words = terms(query)
        if not words:
            return {}, self._chunk_total()
        rows = self.con.execute(q.WORD_DF_SQL, {"terms": words}).fetchall()
        return {str(word): int(df) for word, df in rows}, self._chunk_total()

    def _chunk_total(self) -> int:
        row = self.con.execute("SELECT n FROM corpus_stats WHERE scope = 'c'").fetchone()
        return int(row[0]) if row else 0

    def _rank(self, query: str, k: int, scope: str, filters: Filters | None) -> list[tuple[Any, float]]:
        stems, idf, avgdl = self._query_terms(query, scope, prune=scope == "c")
        if not stems:
            return []
        if scope == "c":
            where, params = self._where(filters, chunk="x")
            join = "JOIN documents d ON d.doc_id = x.doc_id" if filters else ""
            sql = q.ranking_sql(self.lexical_kind, "chunks", "chunk_id", join, where, q.SECTION_WEIGHT)
        else:
            params = []
            sql = q.ranking_sql(self.lexical_kind, "documents", "doc_id", "", "TRUE", 1.0)
        args = {"terms": stems, "idf": idf, "avgdl": avgdl, "tsq": q.tsquery_literal(stems), "k": k}
        args.update({f"p{i}": p for i, p in enumerate(params)})
        return [(r, float(s)) for r, s in self.con.execute(_named(sql, len(params)), args)]

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        return [(int(i), s) for i, s in self._rank(query, k, "c", filters)]

    def summary_lexical(self, query: str, k: int) -> list[tuple[str, float]]:
        return [(str(d), s) for d, s in self._rank(query, k, "d", None)]

    def summary_dense(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        qv = _vec(vector)
        sql = (
            "SELECT doc_id, -(summary_vec <#> %s) FROM documents ORDER BY summary_vec <#> %s, doc_id LIMIT %s"
        )
        return [(str(d), float(s)) for d, s in self.con.execute(sql, (qv, qv, k))]

    def chunk_ids(self) -> list[int]:
        return [int(r[0]) for r in self.con.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]

    def hits(self, chunk_ids: list[int]) -> dict[int, Hit]:
        if not chunk_ids:
            return {}
        sql = (
            "SELECT c.chunk_id, c.doc_id, c.text, c.section, c.page, c.metadata, d.source, d.type, d.title "
            "FROM chunks c JOIN documents d USING(doc_id) WHERE c.chunk_id = ANY(%s)"
        )
        out = {}
        for cid, doc_id, text, section, page, meta, source, dtype, title in self.con.execute(
            sql, (chunk_ids,)
        ):
            out[int(cid)] = Hit(source, section, page, 0.0, text, doc_id, int(cid), dtype, title, meta)
        return out

    def vectors(self, chunk_ids: list[int]) -> np.ndarray:
        out = np.zeros((len(chunk_ids), self.dim), dtype=np.float32)
        pos = {cid: i for i, cid in enumerate(chunk_ids)}
        rows = self.con.cursor(binary=True).execute(
            "SELECT chunk_id, vec FROM chunks WHERE chunk_id = ANY(%s)", (chunk_ids,)
        )
        for cid, vec in rows:
            out[pos[int(cid)]] = _numpy(vec)
        return out

    def summary_vectors(self, doc_ids: list[str]) -> np.ndarray:
        rows = dict(
            self.con.execute("SELECT doc_id, summary_vec FROM documents WHERE doc_id = ANY(%s)", (doc_ids,))
        )
        return np.array([_numpy(rows[d]) for d in doc_ids], dtype=np.float32).reshape(len(doc_ids), self.dim)

    # -- housekeeping ---------------------------------------------------------------------
    def sync(self) -> None:
        """Build the HNSW index once the KB has ``EXACT_BELOW`` chunks (pgvector then keeps it up
        to date on every insert), drop zero-count term statistics, refresh planner statistics."""
        n = self.con.execute("SELECT n FROM corpus_stats WHERE scope = 'c'").fetchone()[0]
        if n >= EXACT_BELOW and not self._index_ready():
            with self._tx() as con:
                con.execute(f"SET LOCAL maintenance_work_mem = '{self._build_memory_mb(n)}MB'")
                con.execute(
                    f"CREATE INDEX IF NOT EXISTS {_INDEX} ON chunks USING hnsw (vec vector_ip_ops) "
                    f"WITH (m = {int(self.hnsw['m'])}, ef_construction = {int(self.hnsw['ef_construction'])})"
                )
            self._has_index = True
        with self._tx() as con:
            con.execute("DELETE FROM term_stats WHERE df <= 0")
        self.con.execute("ANALYZE chunks")

    def _build_memory_mb(self, n: int) -> int:
        """Memory for building the HNSW index: enough for the whole graph (the vector plus its
        neighbour lists, ~2.3 kB per 384-d chunk at m=16), or pgvector builds it on disk, many
        times slower; at least 1 GB, at most ``BUILD_MEMORY_MAX_MB``."""
        per_chunk = 4 * self.dim + 32 * int(self.hnsw["m"]) + 256
        return int(min(max(1024, 1.25 * n * per_chunk / 2**20), BUILD_MEMORY_MAX_MB))

    def stats(self) -> dict[str, Any]:
        docs, chunks = self.con.execute(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)"
        ).fetchone()
        by_type = dict(self.con.execute("SELECT type, COUNT(*) FROM documents GROUP BY type").fetchall())
        size = self.con.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (self.schema,),
        ).fetchone()[0]
        return {
            "documents": int(docs),
            "chunks": int(chunks),
            "types": {t: int(n) for t, n in by_type.items()},
            "size_bytes": int(size),
            "ann_index": "hnsw" if self._index_ready() else "exact",
            "store": self.name,
            "schema": self.schema,
        }

    def drop(self) -> None:
        """Remove this KB's schema and everything in it."""
        with self._tx() as con:
            con.execute(f'DROP SCHEMA "{self.schema}" CASCADE')

    def close(self) -> None:
        self.con.close()


def _vec(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=np.float32).ravel()


def _numpy(vec: Any) -> np.ndarray:
    """pgvector returns numpy arrays (or ``Vector`` objects in newer versions)."""
    return np.asarray(vec.to_numpy() if hasattr(vec, "to_numpy") else vec, dtype=np.float32)


def _json(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _named(sql: str, n: int) -> str:
    """Turn the filter clauses' positional ``%s`` into ``%(p0)s``... (the ranking SQL uses names)."""
    for i in range(n):
        sql = sql.replace("%s", f"%(p{i})s", 1)
    return sql


def _safe(dsn: str) -> str:
    from industry_expert.store.registry import recordable

    return str(recordable("postgresql", {"dsn": dsn})["dsn"])
