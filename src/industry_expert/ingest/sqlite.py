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


_VTABLE_PREPARES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}


def _tables_only(action: int, arg1: object, arg2: object, db: object, *_: object) -> int:
    """Reading whole tables (no user SQL): also the statements a virtual table's constructor
    prepares on the main database (writes to sqlite_master and its shadow tables that a plain
    read never runs, and that the read-only connection could not run) and the read-only pragmas
    that list tables."""
    if action in _VTABLE_PREPARES and db == "main":
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in ("data_version", "table_list"):
        return sqlite3.SQLITE_OK
    return _read_only(action)


def quote_name(name: str) -> str:
    """A table name as an SQL identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def load(path: Path, table: str | None = None, query: str | None = None) -> list[Parsed]:
    """Every table, or the named table, or the rows of a read-only SQL query. With every table,
    each is read on its own: one that cannot be read (a virtual table whose module is missing, a
    damaged page) is skipped with a warning naming it, and the others are ingested."""
    try:
        con = _connect(path)
    except sqlite3.Error as exc:
        raise LoadError(f"cannot read SQLite database: {exc}") from exc
    try:
        if query:
            doc = _read(con, query, f"query:{short_hash(query)}", "query", path, "the --query")
            if not doc.blocks:
                raise LoadError("the query returned no rows (nothing to ingest)")
            return [doc]
        if table:
            _require_table(con, table)
            return _nonempty([_read(con, _select(table), f"table:{table}", table, path, f"table '{table}'")])
        return _every_table(con, path)
    finally:
        con.close()


def _select(table: str) -> str:
    return f"SELECT * FROM {quote_name(table)}"


def _require_table(con: sqlite3.Connection, table: str) -> None:
    try:
        found = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name=?", (table,)
        ).fetchone()
    except sqlite3.Error as exc:
        raise LoadError(f"cannot read SQLite database: {exc}") from exc
    if not found:
        raise LoadError(f"no table named '{table}'")


def _every_table(con: sqlite3.Connection, path: Path) -> list[Parsed]:
    con.set_authorizer(_tables_only)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )]  # fmt: skip
    except sqlite3.Error as exc:
        raise LoadError(f"cannot read SQLite database: {exc}") from exc
    shadow = _shadow_tables(con)
    docs: list[Parsed] = []
    skipped: list[str] = []
    for name in sorted(names, key=lambda n: n in shadow):  # virtual tables before their shadows
        if name in shadow and any(name.startswith(f"{d.metadata['table']}_") for d in docs):
            continue  # a virtual table's storage (an FTS index, R*Tree nodes), read through it
        try:
            docs.append(_read(con, _select(name), f"table:{name}", name, path, f"table '{name}'"))
        except LoadError as exc:
            skipped.append(str(exc))
    docs = [d for d in docs if d.blocks]
    if not docs:
        raise LoadError("; ".join(skipped) if skipped else "database has no table with rows")
    docs[0].warnings.extend(f"skipped {why}" for why in skipped)
    return docs


def _shadow_tables(con: sqlite3.Connection) -> set[str]:
    """Tables that store a virtual table's data (``PRAGMA table_list``, SQLite 3.37+)."""
    try:
        return {r[1] for r in con.execute("PRAGMA main.table_list") if r[2] == "shadow"}
    except sqlite3.Error:  # an older SQLite, or a virtual table whose module is missing
        return set()


def _nonempty(docs: list[Parsed]) -> list[Parsed]:
    docs = [d for d in docs if d.blocks]
    if not docs:
        raise LoadError("database has no table with rows")
    return docs


def _read(con: sqlite3.Connection, sql: str, part: str, name: str, path: Path, what: str) -> Parsed:
    """One document; a read error names ``what`` was being read (a table, or the --query)."""
    try:
        return _document(con, sql, part, name, path)
    except sqlite3.Error as exc:
        if "not authorized" in str(exc) and what == "the --query":
            raise LoadError("a --query may only read (SELECT); it was refused: not authorized") from exc
        if "not authorized" in str(exc):
            raise LoadError(
                f"{what} was refused: reading it needs more than SELECT (not authorized)"
            ) from exc
        raise LoadError(f"{what} cannot be read: {exc}") from exc


def _cell(value: object) -> str:
    """A value as text; a BLOB as its size (its bytes are not text: shown raw they made
    hundreds of thousands of junk chunks)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[binary {len(value)} bytes]"
    return str(value)


def _document(con: sqlite3.Connection, sql: str, part: str, name: str, path: Path) -> Parsed:
    cur = con.execute(sql)
    if cur.description is None:
        raise LoadError("a --query must be a SELECT that returns rows")
    header = [d[0] for d in cur.description]
    digest = hashlib.sha256(sql.encode())
    rows: list[list[str]] = []
    for raw in cur:
        row = [_cell(v) for v in raw]
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
