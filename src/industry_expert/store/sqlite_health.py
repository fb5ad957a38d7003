"""Damage to the SQLite KB database, said in one line with the way out; ``expert kb check``.

- SQLite errors that mean damage or a full disk (corrupt pages, a damaged full-text index, a
  file that is not a database, an I/O error, no space left) are raised as one-line ``KBError``s by
  :class:`GuardedConnection`, wherever they surface (opening, searching, a commit).
- :func:`check` runs SQLite's integrity check, the FTS5 integrity check of both full-text indexes
  against the rows they index (damage there passes ``PRAGMA integrity_check`` while BM25 rankings
  silently change), and compares the vector index file with the stored chunks; ``repair`` rebuilds
  the full-text indexes and the vector index from the stored chunks and vectors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from industry_expert.errors import KBError

T = TypeVar("T")
_CORRUPT, _NOTADB, _IOERR, _FULL = 11, 26, 10, 13
FTS_TABLES = ("chunks_fts", "docs_fts")


def damage_error(db: Path, exc: sqlite3.Error) -> KBError | None:
    """The one-line error for a SQLite error that means damage or a full disk; None otherwise."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    what = " ".join(str(exc).split())
    if code == _FULL or "disk is full" in what:
        return KBError(
            f"{db}: the disk is full ({what}); what was committed before is intact: free some space "
            "and run the command again"
        )
    if code in (_CORRUPT, _NOTADB) or "malformed" in what or "not a database" in what:
        return KBError(
            f"{db}: the KB database is damaged ({what}); run 'expert kb check --kb {db.parent} "
            "--repair' (rebuilds the search indexes), and if damage remains restore kb.sqlite from a "
            "backup or re-ingest into a new --kb folder"
        )
    if code == _IOERR or "disk I/O error" in what:
        return KBError(
            f"{db}: cannot read or write the KB database ({what}); check the disk, its free space "
            "and the file size limit (ulimit -f), then run the command again"
        )
    return None


class GuardedConnection:
    """A ``sqlite3.Connection`` whose damage errors are one-line ``KBError``s (see module doc)."""

    def __init__(self, con: sqlite3.Connection, db: Path) -> None:
        self.con, self.db = con, db

    def guard(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            error = damage_error(self.db, exc)
            if error is None:
                raise
            raise error from exc

    def execute(self, sql: str, *params: Any) -> _Cursor:
        return _Cursor(self.guard(self.con.execute, sql, *params), self)

    def executemany(self, sql: str, rows: Any) -> _Cursor:
        return _Cursor(self.guard(self.con.executemany, sql, rows), self)

    def executescript(self, script: str) -> Any:
        return self.guard(self.con.executescript, script)

    @property
    def in_transaction(self) -> bool:
        return self.con.in_transaction

    def close(self) -> None:
        self.con.close()


class _Cursor:
    """Rows are fetched under the guard too (SQLite reads pages as rows are stepped through)."""

    def __init__(self, cur: sqlite3.Cursor, con: GuardedConnection) -> None:
        self.cur, self.con = cur, con

    def __iter__(self) -> Iterator[Any]:
        while rows := self.fetchmany(1024):
            yield from rows

    def fetchone(self) -> Any:
        return self.con.guard(self.cur.fetchone)

    def fetchall(self) -> list[Any]:
        return self.con.guard(self.cur.fetchall)

    def fetchmany(self, size: int) -> list[Any]:
        return self.con.guard(self.cur.fetchmany, size)

    @property
    def rowcount(self) -> int:
        return self.cur.rowcount


# -- expert kb check ---------------------------------------------------------------------------
def _raw(store: Any) -> sqlite3.Connection:
    """The unguarded connection: the check reports SQLite's own words."""
    return store.con.con if isinstance(store.con, GuardedConnection) else store.con  # type: ignore[no-any-return]


def integrity_problems(con: sqlite3.Connection, db: Path) -> list[str]:
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return []
    return [
        f"{db.name}: {' '.join(r.split())} (SQLite integrity check; the stored chunks themselves "
        "are damaged: restore kb.sqlite from a backup or re-ingest into a new --kb folder)"
        for r in rows
    ]


def fts_problems(con: sqlite3.Connection, db: Path) -> list[str]:
    """FTS5's integrity check of each full-text index, against the rows it indexes (``rank`` 1)."""
    problems = []
    for table in FTS_TABLES:
        try:
            con.execute(f"INSERT INTO {table}({table}, rank) VALUES('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            if "readonly" in str(exc):
                continue  # a read-only KB here: this check needs to write (nothing is changed)
            problems.append(
                f"{db.name}: the full-text index {table} does not match the stored text ({exc}); "
                f"BM25 rankings are wrong: 'expert kb check --kb {db.parent} --repair' rebuilds it"
            )
    return problems


def rebuild_fts(con: sqlite3.Connection) -> None:
    for table in FTS_TABLES:
        con.execute(f"INSERT INTO {table}({table}) VALUES('rebuild')")


def _index_ids(index: Any) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map).astype(np.int64)  # type: ignore[no-any-return]


def _repair_hint(store: Any) -> str:
    return f"'expert kb check --kb {store.directory} --repair' rebuilds it"


def ann_problems(store: Any) -> list[str]:
    """The vector index file against the stored chunks: readable, of the KB's size, and holding
    every live chunk up to the id it is named after (later chunks are added on the next search;
    entries of deleted chunks are skipped at search time)."""
    ann, con = store.ann, _raw(store)
    files = ann._files()
    if not files:
        return []  # no index yet: built from the stored vectors on the next search
    ann.index = None
    ann.load()
    name = files[-1][1].name
    if ann.index is None:
        return [f"{name}: the vector index cannot be read or has another size; {_repair_hint(store)}"]
    live = {r[0] for r in con.execute("SELECT chunk_id FROM chunks WHERE chunk_id <= ?", (ann.max_id,))}
    missing = len(live - set(_index_ids(ann.index).tolist()))
    if missing:
        return [
            f"{name}: the vector index lacks {missing} of the {len(live)} stored chunks it should "
            f"hold (dense search cannot find them); {_repair_hint(store)}"
        ]
    return []


def check(store: Any, repair: bool = False) -> dict[str, list[str]]:
    """``problems`` found (after ``repair``, those that remain) and what was ``repaired``."""
    con, db = _raw(store), store.directory / "kb.sqlite"

    def problems() -> tuple[list[str], list[str], list[str]]:
        return integrity_problems(con, db), fts_problems(con, db), ann_problems(store)

    core, fts, ann = problems()
    repaired: list[str] = []
    if repair and (fts or ann):
        if store.readonly:
            raise KBError(f"{store.directory}: the KB is read-only here; --repair needs write permission")
        repaired = _repair(store, con, fts, ann)
        core, fts, ann = problems()
    return {
        "checked": ["sqlite integrity", *[f"full-text index {t}" for t in FTS_TABLES], "vector index"],
        "problems": core + fts + ann,
        "repaired": repaired,
    }


def _repair(store: Any, con: sqlite3.Connection, fts: list[str], ann: list[str]) -> list[str]:
    done = []
    if fts:
        con.execute("BEGIN IMMEDIATE")
        try:
            rebuild_fts(con)
            con.execute("COMMIT")
        except sqlite3.Error:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        done += [f"rebuilt the full-text indexes {', '.join(FTS_TABLES)} from the stored chunks"]
    if ann:
        store.rebuild_ann()
        done.append("rebuilt the vector index from the stored vectors")
    return done
