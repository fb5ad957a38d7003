"""Opening the SQLite KB database safely: read-only when this process may not write, and checked
for damage before anything trusts it (a lost database beside a surviving index, a manifest whose
dimension disagrees with the stored vectors, vectors of mixed sizes). Each problem is one line
that says how to recover."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from industry_expert.errors import KBError

DB_NAME = "kb.sqlite"


def writable(directory: Path, db: Path) -> bool:
    """Whether this process may change the KB (the folder, for the WAL files, and the database)."""
    return os.access(directory, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


def connect_rw(db: Path, schema: str) -> sqlite3.Connection:
    con = sqlite3.connect(db, isolation_level=None, timeout=60.0, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(schema)
    return con


def connect_ro(db: Path) -> sqlite3.Connection:
    """Read-only; a WAL database in a folder we cannot write opens as immutable (no -shm needed)."""
    if not db.is_file():
        raise KBError(f"{db}: the KB database is missing and the folder is read-only")
    uri = f"file:{quote(str(db.resolve()))}"
    try:
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return con
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def check_database_file(directory: Path, db: Path) -> None:
    """A missing or empty database beside a surviving vector index is damage, not an empty KB."""
    if db.is_file() and db.stat().st_size > 0:
        return
    survivors = sorted(p.name for p in directory.glob("ann-*.faiss"))
    if survivors:
        raise KBError(
            f"{db}: the KB database is {'empty' if db.exists() else 'missing'} but its vector index "
            f"({survivors[-1]}) survives, so the KB is damaged; restore {DB_NAME} from a backup, "
            "or re-ingest into a new --kb folder"
        )


def check_dimensions(con: sqlite3.Connection, directory: Path, dim: int) -> None:
    """The manifest's dimension must match the stored vectors, and those must all agree."""
    sizes: set[int] = set()
    for sql in (
        "SELECT length(vec) FROM chunks ORDER BY chunk_id LIMIT 1",
        "SELECT length(vec) FROM chunks ORDER BY chunk_id DESC LIMIT 1",
        "SELECT length(summary_vec) FROM documents ORDER BY rowid LIMIT 1",
        "SELECT length(summary_vec) FROM documents ORDER BY rowid DESC LIMIT 1",
    ):
        row = con.execute(sql).fetchone()
        if row and row[0] is not None:
            sizes.add(int(row[0]) // 4)
    if len(sizes) > 1:
        raise KBError(
            f"{directory}: the KB holds vectors of different sizes "
            f"({', '.join(f'{d}-d' for d in sorted(sizes))}) and cannot be searched; "
            "re-ingest into a new --kb folder"
        )
    if sizes and sizes != {dim}:
        raise KBError(
            f"{directory}: manifest.json says {dim}-d vectors but {DB_NAME} holds "
            f"{sizes.pop()}-d vectors (the manifest was replaced, or another embedder was used); "
            "restore the original manifest.json, or re-ingest into a new --kb folder"
        )
