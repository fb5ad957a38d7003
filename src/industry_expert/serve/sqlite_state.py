"""Keys, jobs and rate-limit buckets in one SQLite file (``serve.sqlite`` in the state folder).

WAL mode and ``BEGIN IMMEDIATE`` make it safe for several server processes on one machine; every
write is committed before the call returns, so a killed server loses nothing it acknowledged."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from industry_expert.errors import ConfigError
from industry_expert.serve.state import FINAL_STATES, JobRecord, KeyRecord

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


class SQLiteState:
    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
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

    # -- keys -----------------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._tx() as con:
            if con.execute("SELECT 1 FROM keys WHERE name=? AND revoked IS NULL", (record.name,)).fetchone():
                raise ConfigError(f"a key named '{record.name}' exists (revoke it first)")
            con.execute(
                "INSERT INTO keys VALUES (?,?,?,?,?,?,?)",
                (
                    record.name,
                    record.digest,
                    json.dumps(record.scopes),
                    int(record.admin),
                    record.created,
                    record.expires,
                    record.revoked,
                ),
            )

    @staticmethod
    def _key(row: tuple[Any, ...]) -> KeyRecord:
        return KeyRecord(row[0], row[1], json.loads(row[2]), bool(row[3]), row[4], row[5], row[6])

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        rows = self._query("SELECT * FROM keys WHERE digest=?", (digest,))
        return self._key(rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        return [self._key(r) for r in self._query("SELECT * FROM keys ORDER BY created")]

    def revoke_key(self, name: str) -> bool:
        with self._tx() as con:
            cur = con.execute(
                "UPDATE keys SET revoked=? WHERE name=? AND revoked IS NULL", (time.time(), name)
            )
            return cur.rowcount > 0

    def any_keys(self) -> bool:
        return bool(self._query("SELECT 1 FROM keys LIMIT 1"))

    # -- jobs -----------------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO jobs(id, kb, state, created, record, cancel) VALUES (?,?,?,?,?,?)",
                (job.id, job.kb, job.state, job.created, json.dumps(asdict(job)), int(job.cancel)),
            )

    @staticmethod
    def _job(row: tuple[Any, ...]) -> JobRecord:
        data = json.loads(row[0])
        known = {f.name for f in fields(JobRecord)}
        job = JobRecord(**{k: v for k, v in data.items() if k in known})
        job.cancel = job.cancel or bool(row[1])
        return job

    def job(self, job_id: str) -> JobRecord | None:
        rows = self._query("SELECT record, cancel FROM jobs WHERE id=?", (job_id,))
        return self._job(rows[0]) if rows else None

    def save_job(self, job: JobRecord) -> None:
        with self._tx() as con:
            con.execute(
                "UPDATE jobs SET state=?, record=? WHERE id=?", (job.state, json.dumps(asdict(job)), job.id)
            )

    def jobs(self, kb: str | None = None, limit: int = 100) -> list[JobRecord]:
        if kb is None:
            rows = self._query("SELECT record, cancel FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        else:
            rows = self._query(
                "SELECT record, cancel FROM jobs WHERE kb=? ORDER BY created DESC LIMIT ?", (kb, limit)
            )
        return [self._job(r) for r in rows]

    def next_queued(self, kb: str) -> JobRecord | None:
        rows = self._query(
            "SELECT record, cancel FROM jobs WHERE kb=? AND state='queued' ORDER BY created LIMIT 1", (kb,)
        )
        return self._job(rows[0]) if rows else None

    def claim_next(self, kb: str, owner: str) -> JobRecord | None:
        with self._tx() as con:
            if con.execute("SELECT 1 FROM jobs WHERE kb=? AND state='running'", (kb,)).fetchone():
                return None
            row = con.execute(
                "SELECT record, cancel FROM jobs WHERE kb=? AND state='queued' ORDER BY created LIMIT 1",
                (kb,),
            ).fetchone()
            if row is None:
                return None
            job = self._job(row)
            job.state, job.owner, job.heartbeat = "running", owner, time.time()
            con.execute(
                "UPDATE jobs SET state=?, record=? WHERE id=?", (job.state, json.dumps(asdict(job)), job.id)
            )
        return job

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE jobs SET cancel=1 WHERE id=?", (job_id,))

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._query("SELECT cancel FROM jobs WHERE id=?", (job_id,))
        return bool(rows and rows[0][0])

    def job_counts(self) -> dict[str, int]:
        return dict(self._query("SELECT state, COUNT(*) FROM jobs GROUP BY state"))  # type: ignore[arg-type]

    def unfinished_jobs(self) -> list[JobRecord]:
        marks = ",".join("?" * len(FINAL_STATES))
        rows = self._query(
            f"SELECT record, cancel FROM jobs WHERE state NOT IN ({marks}) ORDER BY created", FINAL_STATES
        )
        return [self._job(r) for r in rows]

    # -- rate limit (token bucket: capacity per_minute, refilled per_minute/60 per second) ---
    def hit(self, key: str, per_minute: int) -> float | None:
        now = time.time()
        with self._tx() as con:
            row = con.execute("SELECT tokens, updated FROM buckets WHERE key=?", (key,)).fetchone()
            tokens = float(per_minute) if row is None else row[0]
            if row is not None:
                tokens = min(float(per_minute), tokens + (now - row[1]) * per_minute / 60.0)
            allowed = tokens >= 1.0
            tokens = tokens - 1.0 if allowed else tokens
            con.execute("INSERT OR REPLACE INTO buckets VALUES (?,?,?)", (key, tokens, now))
        return None if allowed else (1.0 - tokens) * 60.0 / per_minute

    def close(self) -> None:
        with self._lock:
            self.con.close()
