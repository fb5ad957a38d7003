"""Keys, jobs and rate-limit buckets in PostgreSQL (``serve.state_url: postgresql://...``), so
that several ``expert serve`` processes (on one or many hosts) share them. Same semantics as
:mod:`industry_expert.serve.sqlite_state`; a KB's jobs are claimed under an advisory lock, so
one process at a time writes to a KB."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from typing import Any

from industry_expert.errors import ConfigError
from industry_expert.serve.state import FINAL_STATES, JobRecord, KeyRecord

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


class PostgresState:
    def __init__(self, url: str) -> None:
        import psycopg

        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ConfigError(f"serve.state_url: cannot connect: {' '.join(str(exc).split())}") from None
        self._lock = threading.Lock()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('ie_serve_schema'))")
            cur.execute(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self.con.transaction(), self.con.cursor() as cur:
            yield cur

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self.con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    # -- keys -----------------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("ie_key:" + record.name,))
            cur.execute("SELECT 1 FROM ie_keys WHERE name=%s AND revoked IS NULL", (record.name,))
            if cur.fetchone():
                raise ConfigError(f"a key named '{record.name}' exists (revoke it first)")
            cur.execute(
                "INSERT INTO ie_keys VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (
                    record.name,
                    record.digest,
                    json.dumps(record.scopes),
                    record.admin,
                    record.created,
                    record.expires,
                    record.revoked,
                ),
            )

    @staticmethod
    def _key(row: tuple[Any, ...]) -> KeyRecord:
        return KeyRecord(row[0], row[1], json.loads(row[2]), bool(row[3]), row[4], row[5], row[6])

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        rows = self._query("SELECT * FROM ie_keys WHERE digest=%s", (digest,))
        return self._key(rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        return [self._key(r) for r in self._query("SELECT * FROM ie_keys ORDER BY created")]

    def revoke_key(self, name: str) -> bool:
        with self._tx() as cur:
            cur.execute(
                "UPDATE ie_keys SET revoked=%s WHERE name=%s AND revoked IS NULL", (time.time(), name)
            )
            return bool(cur.rowcount)

    def any_keys(self) -> bool:
        return bool(self._query("SELECT 1 FROM ie_keys LIMIT 1"))

    # -- jobs -----------------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO ie_jobs(id, kb, state, created, record, cancel) VALUES (%s,%s,%s,%s,%s,%s)",
                (job.id, job.kb, job.state, job.created, json.dumps(asdict(job)), job.cancel),
            )

    @staticmethod
    def _job(row: tuple[Any, ...]) -> JobRecord:
        data = json.loads(row[0])
        known = {f.name for f in fields(JobRecord)}
        job = JobRecord(**{k: v for k, v in data.items() if k in known})
        job.cancel = job.cancel or bool(row[1])
        return job

    def job(self, job_id: str) -> JobRecord | None:
        rows = self._query("SELECT record, cancel FROM ie_jobs WHERE id=%s", (job_id,))
        return self._job(rows[0]) if rows else None

    def save_job(self, job: JobRecord) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE ie_jobs SET state=%s, record=%s WHERE id=%s",
                (job.state, json.dumps(asdict(job)), job.id),
            )

    def jobs(self, kb: str | None = None, limit: int = 100) -> list[JobRecord]:
        if kb is None:
            rows = self._query("SELECT record, cancel FROM ie_jobs ORDER BY created DESC LIMIT %s", (limit,))
        else:
            sql = "SELECT record, cancel FROM ie_jobs WHERE kb=%s ORDER BY created DESC LIMIT %s"
            rows = self._query(sql, (kb, limit))
        return [self._job(r) for r in rows]

    def next_queued(self, kb: str) -> JobRecord | None:
        sql = "SELECT record, cancel FROM ie_jobs WHERE kb=%s AND state='queued' ORDER BY created LIMIT 1"
        rows = self._query(sql, (kb,))
        return self._job(rows[0]) if rows else None

    def claim_next(self, kb: str, owner: str) -> JobRecord | None:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("ie_jobs:" + kb,))
            cur.execute("SELECT 1 FROM ie_jobs WHERE kb=%s AND state='running'", (kb,))
            if cur.fetchone():
                return None
            sql = "SELECT record, cancel FROM ie_jobs WHERE kb=%s AND state='queued' ORDER BY created LIMIT 1"
            cur.execute(sql, (kb,))
            row = cur.fetchone()
            if row is None:
                return None
            job = self._job(row)
            job.state, job.owner, job.heartbeat = "running", owner, time.time()
            cur.execute(
                "UPDATE ie_jobs SET state=%s, record=%s WHERE id=%s",
                (job.state, json.dumps(asdict(job)), job.id),
            )
        return job

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as cur:
            cur.execute("UPDATE ie_jobs SET cancel=TRUE WHERE id=%s", (job_id,))

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._query("SELECT cancel FROM ie_jobs WHERE id=%s", (job_id,))
        return bool(rows and rows[0][0])

    def job_counts(self) -> dict[str, int]:
        return {
            state: int(n) for state, n in self._query("SELECT state, COUNT(*) FROM ie_jobs GROUP BY state")
        }

    def unfinished_jobs(self) -> list[JobRecord]:
        sql = "SELECT record, cancel FROM ie_jobs WHERE NOT (state = ANY(%s)) ORDER BY created"
        return [self._job(r) for r in self._query(sql, (list(FINAL_STATES),))]

    # -- rate limit (token bucket, as in sqlite_state) --------------------------------------
    def hit(self, key: str, per_minute: int) -> float | None:
        now = time.time()
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO ie_buckets VALUES (%s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (key, float(per_minute), now),
            )
            cur.execute("SELECT tokens, updated FROM ie_buckets WHERE key=%s FOR UPDATE", (key,))
            tokens, updated = cur.fetchone()
            tokens = min(float(per_minute), tokens + max(0.0, now - updated) * per_minute / 60.0)
            allowed = tokens >= 1.0
            tokens = tokens - 1.0 if allowed else tokens
            cur.execute("UPDATE ie_buckets SET tokens=%s, updated=%s WHERE key=%s", (tokens, now, key))
        return None if allowed else (1.0 - tokens) * 60.0 / per_minute

    def close(self) -> None:
        with self._lock:
            self.con.close()
