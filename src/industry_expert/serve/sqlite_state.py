"""Keys, jobs and rate-limit buckets in one SQLite file (``serve.sqlite`` in the state folder).

WAL mode and ``BEGIN IMMEDIATE`` make it safe for several server processes on one machine; every
write is committed before the call returns, so a killed server loses nothing it acknowledged. The
statements are :mod:`industry_expert.serve.sql_state`'s, shared with PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from industry_expert.serve.sql_state import SqlState

DB_NAME = "serve.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
  name TEXT NOT NULL, digest TEXT PRIMARY KEY, scopes TEXT NOT NULL, admin INTEGER NOT NULL,
  created REAL NOT NULL, expires REAL, revoked REAL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, kb TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL, record TEXT NOT NULL,
  cancel INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_kb_state ON jobs(kb, state, created);
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL);
"""


class SQLiteState(SqlState):
    def __init__(self, state_dir: str | Path) -> None:
        super().__init__()
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives kill -9 of the process
        self.con.executescript(SCHEMA)
        self.path.chmod(0o600)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.con.execute(sql, params).fetchall()
