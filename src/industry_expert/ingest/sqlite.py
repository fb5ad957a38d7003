"""SQLite loader: every table of a database file (or one table / query) as a table document."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed
from industry_expert.types import Block

MAGIC = b"SQLite format 3\x00"


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only (``mode=ro``), and only reads are authorised: a --query cannot ATTACH another
    file (which would create it), write, or change settings."""
    with path.open("rb") as fh:
        if fh.read(16) != MAGIC:
            raise LoadError("not a SQLite database (bad file header)")
    con = sqlite3.connect(f"file:{quote(os.fsdecode(os.path.abspath(path)))}?mode=ro", uri=True)
    con.set_authorizer(_read_only)
    return con


_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _read_only(action: int, *_: object) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def quote_name(name: str) -> str:
    """A table name as an SQL identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def load(path: Path, table: str | None = None, query: str | None = None) -> list[Parsed]:
    """Every table, or the named table, or the rows of a read-only SQL query."""
    try:
        con = _connect(path)
        try:
            if query:
                doc = _document(con, query, f"query:{short_hash(query)}", "query", path)
                if not doc.blocks:
                    raise LoadError("the query returned no rows (nothing to ingest)")
                return [doc]
            names = (
                [table]
                if table
                else [
                    r[0]
                    for r in con.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                        "ORDER BY name"
                    )
                ]
            )
            if (
                table
                and not con.execute(
                    "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name=?", (table,)
                ).fetchone()
            ):
                raise LoadError(f"no table named '{table}'")
            docs = [_document(con, f"SELECT * FROM {quote_name(n)}", f"table:{n}", n, path) for n in names]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "not authorized" in str(exc):
            raise LoadError("a --query may only read (SELECT); it was refused: not authorized") from exc
        raise LoadError(f"cannot read SQLite database: {exc}") from exc
    except sqlite3.Error as exc:
        raise LoadError(f"cannot read SQLite database: {exc}") from exc
    docs = [d for d in docs if d.blocks]
    if not docs:
        raise LoadError("database has no table with rows")
    return docs


def _document(con: sqlite3.Connection, sql: str, part: str, name: str, path: Path) -> Parsed:
    cur = con.execute(sql)
    if cur.description is None:
        raise LoadError("a --query must be a SELECT that returns rows")
    header = [d[0] for d in cur.description]
    digest = hashlib.sha256(sql.encode())
    rows: list[list[str]] = []
    for raw in cur:
        row = ["" if v is None else str(v) for v in raw]
        digest.update("\x1f".join(row).encode() + b"\x1e")
        rows.append(row)
    blocks = [Block("table", "", header=header, rows=rows)] if rows else []
    meta = {"table": name, "columns": header, "rows": len(rows)}
    if part.startswith("query:"):
        meta["query"] = sql
    return Parsed(
        title=f"{path.name} {name}", blocks=blocks, part=part, metadata=meta, content_hash=digest.hexdigest()
    )


def short_hash(text: str) -> str:
    """A query document's id part: the same SQL gives the same id on every ingest."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]
