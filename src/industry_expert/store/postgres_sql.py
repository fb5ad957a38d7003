"""SQL and text helpers of the PostgreSQL store: the per-KB schema, BM25 over ``tsvector`` term
statistics, glob filters, and the tokenizer that mirrors SQLite FTS5's ``unicode61`` with
``tokenchars '-_'`` (so part numbers such as ``KP-3402-07`` stay one term in both stores)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np

K1, B = 1.2, 0.75
"""BM25 constants, the same as SQLite FTS5's ``bm25()``."""
SECTION_WEIGHT = 0.6
"""A section-path term counts 0.6 of a text term (the embedded store's ``bm25(chunks_fts, 0.6, 1.0)``)."""
MAX_POSITION = 16383
"""PostgreSQL keeps term positions up to this value; later tokens still count in the length."""
_TOKEN = re.compile(r"[\w\-]+")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema(name: str) -> str:
    if not _SCHEMA_NAME.fullmatch(name):
        raise ValueError(f"invalid schema name '{name}' (lower-case letters, digits, '_'; at most 63)")
    return name


def tokens(text: str) -> list[str]:
    """Lower-cased tokens with diacritics removed; '-' and '_' are part of a token."""
    folded = text.lower()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [t for t in _TOKEN.findall(folded) if len(t) <= 200]


def tsvector_literal(
    fields: Iterable[tuple[list[str], str]], stem: dict[str, str]
) -> tuple[str, int, dict[str, float]]:
    """``'lexeme':1A,7B ...`` from (tokens, weight letter) pairs, the length in tokens, and the
    weighted term frequencies BM25 reads (A: 1.0 per occurrence, B: ``SECTION_WEIGHT``)."""
    positions: dict[str, list[str]] = {}
    tf: dict[str, float] = {}
    pos = 0
    for toks, weight in fields:
        w = 1.0 if weight == "A" else SECTION_WEIGHT
        for tok in toks:
            pos += 1
            lexeme = stem.get(tok, tok)
            tf[lexeme] = tf.get(lexeme, 0.0) + w
            if pos <= MAX_POSITION:
                positions.setdefault(lexeme, []).append(f"{pos}{weight}")
    parts = []
    for lexeme, where in positions.items():
        quoted = lexeme.replace("\\", "\\\\").replace("'", "''")
        parts.append(f"'{quoted}':{','.join(where[:256])}")
    return " ".join(parts), pos, {k: round(v, 3) for k, v in tf.items()}


def vector_text(vec: object) -> str:
    """pgvector's text form, ``[0.1,-0.2,...]``, with 9 significant digits (exact for float32);
    several times faster than pgvector's own dumper, which dominated bulk loads."""
    values = np.ascontiguousarray(vec, dtype=np.float32).ravel().tolist()
    return "[" + ",".join(map("{:.9g}".format, values)) + "]"


def glob_regex(pattern: str) -> str:
    """A SQLite GLOB pattern (``*``, ``?``, ``[...]``, case-sensitive) as an anchored POSIX regex."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 2) if pattern[i + 1 : i + 2] == "]" else pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(ch if ch.isalnum() else "\\" + ch)
        i += 1
    return "".join(out) + "$"


def schema_sql(dim: int) -> str:
    """Tables of one KB (in the current ``search_path`` schema). ``tsv`` holds stemmed terms with
    positions (weight A: text/summary, B: section path) for the GIN index and ``ts_rank``; ``tf``
    the weighted term frequencies and ``dl`` the length that BM25 reads. Vectors stay inline
    (``PLAIN``) and the term columns compressed inline (``MAIN``): TOAST'ed out of line, every
    distance or term lookup would fetch them from the TOAST table (measured 10x slower)."""
    return f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, abs_path TEXT NOT NULL, type TEXT NOT NULL,
  title TEXT NOT NULL, content_hash TEXT NOT NULL, file_hash TEXT NOT NULL, summary TEXT NOT NULL,
  summary_vec vector({dim}) NOT NULL, n_chunks INTEGER NOT NULL, metadata JSONB NOT NULL,
  ingested_at DOUBLE PRECISION NOT NULL, tsv TSVECTOR NOT NULL, tf JSONB NOT NULL, dl REAL NOT NULL);
CREATE INDEX IF NOT EXISTS documents_abs ON documents(abs_path);
CREATE INDEX IF NOT EXISTS documents_tsv ON documents USING gin(tsv);
CREATE TABLE IF NOT EXISTS chunks(
  chunk_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  doc_id TEXT NOT NULL REFERENCES documents(doc_id), ordinal INTEGER NOT NULL, text TEXT NOT NULL,
  section TEXT NOT NULL, page INTEGER, metadata JSONB NOT NULL, vec vector({dim}) NOT NULL,
  tsv TSVECTOR NOT NULL, tf JSONB NOT NULL, dl REAL NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin(tsv);
ALTER TABLE chunks ALTER COLUMN vec SET STORAGE PLAIN, ALTER COLUMN tf SET STORAGE PLAIN,
  ALTER COLUMN tsv SET STORAGE MAIN;
ALTER TABLE documents ALTER COLUMN summary_vec SET STORAGE PLAIN, ALTER COLUMN tf SET STORAGE MAIN;
CREATE TABLE IF NOT EXISTS term_stats(
  scope CHAR(1) NOT NULL, term TEXT NOT NULL, df INTEGER NOT NULL, PRIMARY KEY(scope, term));
CREATE TABLE IF NOT EXISTS corpus_stats(
  scope CHAR(1) PRIMARY KEY, n BIGINT NOT NULL, total_len DOUBLE PRECISION NOT NULL);
INSERT INTO corpus_stats VALUES ('c', 0, 0), ('d', 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ingest_runs(
  run_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, started DOUBLE PRECISION NOT NULL,
  finished DOUBLE PRECISION, report JSONB);
"""


DOC_COPY = (
    "doc_id, source, abs_path, type, title, content_hash, file_hash, summary, summary_vec, n_chunks, "
    "metadata, ingested_at, tsv, tf, dl"
)
CHUNK_COPY = "doc_id, ordinal, text, section, page, metadata, vec, tsv, tf, dl"
"""The columns ``upsert_many`` COPYs into (``chunk_id`` is generated)."""

STEM_SQL = "SELECT x, COALESCE((ts_lexize('english_stem', x))[1], x) FROM unnest(%s::text[]) AS x"
"""Snowball English stems (PostgreSQL's own dictionary); a stop word keeps its surface form."""

QUERY_TERMS_SQL = """
SELECT s.stem, COALESCE(t.df, 0), c.n, c.total_len
FROM (SELECT DISTINCT COALESCE((ts_lexize('english_stem', x))[1], x) AS stem
      FROM unnest(%(terms)s::text[]) AS x) s
LEFT JOIN term_stats t ON t.scope = %(scope)s AND t.term = s.stem
CROSS JOIN corpus_stats c WHERE c.scope = %(scope)s
"""

WORD_DF_SQL = """
SELECT x.w, COALESCE(MAX(t.df), 0) FROM unnest(%(terms)s::text[]) AS x(w)
LEFT JOIN term_stats t ON t.scope = 'c' AND t.term = COALESCE((ts_lexize('english_stem', x.w))[1], x.w)
GROUP BY x.w
"""

# {table}, {id}, {join}, {where}: fixed identifiers/SQL fragments chosen by the store, never user text
BM25_SQL = """
SELECT x.{id}, (
  SELECT SUM(q.idf * t.tf * {k1p1} / (t.tf + {k1} * (1 - {b} + {b} * x.dl / %(avgdl)s)))
  FROM unnest(%(terms)s::text[], %(idf)s::float8[]) AS q(term, idf)
  CROSS JOIN LATERAL (SELECT (x.tf -> q.term)::float8 AS tf) t WHERE t.tf IS NOT NULL
) AS score
FROM {table} x {join}
WHERE x.tsv @@ %(tsq)s::tsquery AND {where}
ORDER BY score DESC, x.{id} LIMIT %(k)s
"""
"""BM25 exactly as SQLite FTS5 computes it (k1 1.2, b 0.75, IDF from the KB's term statistics),
over the chunks the GIN index finds for any query term; one scalar sub-select per chunk."""

FTS_SQL = """
SELECT x.{id}, ts_rank('{{0.1, 0.2, {sw}, 1.0}}', x.tsv, %(tsq)s::tsquery, 1) AS score
FROM {table} x {join}
WHERE x.tsv @@ %(tsq)s::tsquery AND {where}
ORDER BY score DESC, x.{id} LIMIT %(k)s
"""


def ranking_sql(kind: str, table: str, id_col: str, join: str, where: str, section_weight: float) -> str:
    template = BM25_SQL if kind == "bm25" else FTS_SQL
    return template.format(
        id=id_col, table=table, join=join, where=where, k1=K1, k1p1=K1 + 1, b=B, sw=section_weight
    )


def tsquery_literal(stems: list[str]) -> str:
    return " | ".join("'" + s.replace("\\", "\\\\").replace("'", "''") + "'" for s in stems)
