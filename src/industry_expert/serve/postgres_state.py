"""Keys, jobs and rate-limit buckets in PostgreSQL (``serve.state_url: postgresql://...``), so
that several ``expert serve`` processes (on one or many hosts) share them. The statements and
semantics are :mod:`industry_expert.serve.sql_state`'s, shared with SQLite; a KB's jobs are
claimed, and a key name taken, under an advisory lock, so one process at a time writes to a KB,
and a bucket is read ``FOR UPDATE``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from industry_expert.errors import ConfigError
from industry_expert.serve.sql_state import SqlState

SCHEMA = """
CREATE TABLE IF NOT EXISTS ie_keys (
  name TEXT NOT NULL, digest TEXT PRIMARY KEY, scopes TEXT NOT NULL, admin BOOLEAN NOT NULL,
  created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION, revoked DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS ie_jobs (
  id TEXT PRIMARY KEY, kb TEXT NOT NULL, state TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
  record TEXT NOT NULL, cancel BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX IF NOT EXISTS ie_jobs_kb_state ON ie_jobs(kb, state, created);
CREATE TABLE IF NOT EXISTS ie_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
  updated DOUBLE PRECISION NOT NULL);
"""


class PostgresState(SqlState):
    PREFIX = "ie_"
    MARK = "%s"
    FOR_UPDATE = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        import psycopg

        super().__init__()
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ConfigError(f"serve.state_url: cannot connect: {' '.join(str(exc).split())}") from None
        with self._tx() as cur:
            self._serialize(cur, "ie_serve_schema")
            cur.execute(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self.con.transaction(), self.con.cursor() as cur:
            yield cur

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self.con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _serialize(self, tx: Any, section: str) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (section,))
