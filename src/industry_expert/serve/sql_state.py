"""Keys, jobs and rate-limit buckets in SQL, written once for both backends: the SQLite file of
:mod:`industry_expert.serve.sqlite_state` and the PostgreSQL database of
:mod:`industry_expert.serve.postgres_state`. A backend gives its connection, its transaction and
query helpers, its table prefix and placeholder, and how it serialises a named section across
processes; every statement here is in the SQL both speak (``ON CONFLICT`` needs SQLite >= 3.24)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, fields
from typing import Any

from industry_expert.errors import ConfigError
from industry_expert.serve.state import FINAL_STATES, JobRecord, KeyRecord


class SqlState:
    """The :class:`~industry_expert.serve.state.State` protocol over a DB-API connection."""

    PREFIX = ""
    """Prepended to the table names (``keys``, ``jobs``, ``buckets``)."""
    MARK = "?"
    """The driver's parameter placeholder; statements here are written with ``?``."""
    FOR_UPDATE = ""
    """Appended to a read inside a transaction that will write the row it read."""
    con: Any
    """The backend's DB-API connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    # -- what a backend provides ------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[Any]:
        """A transaction, yielding an object whose ``execute(sql, params)`` returns a cursor."""
        raise NotImplementedError

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read outside a transaction (``sql`` already through :meth:`_sql`)."""
        raise NotImplementedError

    def _serialize(self, tx: Any, section: str) -> None:
        """Hold ``section`` until the transaction ends, against other processes too (SQLite's
        ``BEGIN IMMEDIATE`` already serialises every writer, so the default does nothing)."""

    # -- helpers ----------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        """``sql`` with this backend's table names (``{keys}``, ...) and placeholders."""
        p = self.PREFIX
        return sql.format(keys=f"{p}keys", jobs=f"{p}jobs", buckets=f"{p}buckets").replace("?", self.MARK)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._query(self._sql(sql), params)

    def _run(self, tx: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return tx.execute(self._sql(sql), params)

    # -- keys -------------------------------------------------------------------------------
    def add_key(self, record: KeyRecord) -> None:
        with self._tx() as tx:
            self._serialize(tx, "ie_key:" + record.name)
            if self._run(
                tx, "SELECT 1 FROM {keys} WHERE name=? AND revoked IS NULL", (record.name,)
            ).fetchone():
                raise ConfigError(f"a key named '{record.name}' exists (revoke it first)")
            scopes = json.dumps(record.scopes)
            self._run(
                tx,
                "INSERT INTO {keys} VALUES (?,?,?,?,?,?,?)",
                (
                    record.name,
                    record.digest,
                    scopes,
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
        rows = self._read("SELECT * FROM {keys} WHERE digest=?", (digest,))
        return self._key(rows[0]) if rows else None

    def list_keys(self) -> list[KeyRecord]:
        return [self._key(r) for r in self._read("SELECT * FROM {keys} ORDER BY created")]

    def revoke_key(self, name: str) -> bool:
        with self._tx() as tx:
            cur = self._run(
                tx, "UPDATE {keys} SET revoked=? WHERE name=? AND revoked IS NULL", (time.time(), name)
            )
            return bool(cur.rowcount > 0)

    def any_keys(self) -> bool:
        return bool(self._read("SELECT 1 FROM {keys} LIMIT 1"))

    # -- jobs -------------------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> None:
        with self._tx() as tx:
            self._run(
                tx,
                "INSERT INTO {jobs}(id, kb, state, created, record, cancel) VALUES (?,?,?,?,?,?)",
                (job.id, job.kb, job.state, job.created, json.dumps(asdict(job)), job.cancel),
            )

    @staticmethod
    def _job(row: tuple[Any, ...]) -> JobRecord:
        data = json.loads(row[0])
        known = {f.name for f in fields(JobRecord)}
        job = JobRecord(**{k: v for k, v in data.items() if k in known})
        job.cancel = job.cancel or bool(row[1])
        return job

    def _jobs(self, rows: list[tuple[Any, ...]]) -> Iterator[JobRecord]:
        return (self._job(r) for r in rows)

    def job(self, job_id: str) -> JobRecord | None:
        return next(self._jobs(self._read("SELECT record, cancel FROM {jobs} WHERE id=?", (job_id,))), None)

    def _write_job(self, tx: Any, job: JobRecord) -> None:
        self._run(
            tx, "UPDATE {jobs} SET state=?, record=? WHERE id=?", (job.state, json.dumps(asdict(job)), job.id)
        )

    def save_job(self, job: JobRecord) -> None:
        with self._tx() as tx:
            self._write_job(tx, job)

    def jobs(self, kb: str | None = None, limit: int = 100) -> list[JobRecord]:
        where, params = ("", (limit,)) if kb is None else ("WHERE kb=? ", (kb, limit))
        return list(
            self._jobs(
                self._read(
                    f"SELECT record, cancel FROM {{jobs}} {where}ORDER BY created DESC LIMIT ?", params
                )
            )
        )

    NEXT_QUEUED = "SELECT record, cancel FROM {jobs} WHERE kb=? AND state='queued' ORDER BY created LIMIT 1"

    def next_queued(self, kb: str) -> JobRecord | None:
        return next(self._jobs(self._read(self.NEXT_QUEUED, (kb,))), None)

    def claim_next(self, kb: str, owner: str) -> JobRecord | None:
        with self._tx() as tx:
            self._serialize(tx, "ie_jobs:" + kb)
            if self._run(tx, "SELECT 1 FROM {jobs} WHERE kb=? AND state='running'", (kb,)).fetchone():
                return None
            row = self._run(tx, self.NEXT_QUEUED, (kb,)).fetchone()
            if row is None:
                return None
            job = self._job(row)
            job.state, job.owner, job.heartbeat = "running", owner, time.time()
            self._write_job(tx, job)
        return job

    def settle_orphan(self, job: JobRecord) -> bool:
        """Write ``job`` (re-queued or interrupted by a recovery) only while its row is still
        running for the same owner, start and heartbeat as ``job`` carries; checked and written
        under the KB's claim lock. False, and nothing written, when another thread or process
        settled it first (and may have claimed it again since): a stale read never re-queues a
        job that is running elsewhere."""
        with self._tx() as tx:
            self._serialize(tx, "ie_jobs:" + job.kb)
            row = self._run(tx, "SELECT record, cancel FROM {jobs} WHERE id=?" + self.FOR_UPDATE, (job.id,))
            now = next(self._jobs(row.fetchall()), None)
            if now is None or not _same_run(now, job):
                return False
            self._write_job(tx, job)
        return True

    def request_cancel(self, job_id: str) -> None:
        with self._tx() as tx:
            self._run(tx, "UPDATE {jobs} SET cancel=? WHERE id=?", (True, job_id))

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._read("SELECT cancel FROM {jobs} WHERE id=?", (job_id,))
        return bool(rows and rows[0][0])

    def job_counts(self) -> dict[str, int]:
        return {state: int(n) for state, n in self._read("SELECT state, COUNT(*) FROM {jobs} GROUP BY state")}

    def unfinished_jobs(self) -> list[JobRecord]:
        marks = ",".join("?" * len(FINAL_STATES))
        sql = f"SELECT record, cancel FROM {{jobs}} WHERE state NOT IN ({marks}) ORDER BY created"
        return list(self._jobs(self._read(sql, FINAL_STATES)))

    # -- rate limit (token bucket: capacity per_minute, refilled per_minute/60 per second) ----
    def hit(self, key: str, per_minute: int) -> float | None:
        now = time.time()
        with self._tx() as tx:
            self._run(
                tx,
                "INSERT INTO {buckets} VALUES (?,?,?) ON CONFLICT (key) DO NOTHING",
                (key, float(per_minute), now),
            )
            row = self._run(
                tx, "SELECT tokens, updated FROM {buckets} WHERE key=?" + self.FOR_UPDATE, (key,)
            ).fetchone()
            tokens = min(float(per_minute), row[0] + max(0.0, now - row[1]) * per_minute / 60.0)
            allowed = tokens >= 1.0
            tokens = tokens - 1.0 if allowed else tokens
            self._run(tx, "UPDATE {buckets} SET tokens=?, updated=? WHERE key=?", (tokens, now, key))
        return None if allowed else (1.0 - tokens) * 60.0 / per_minute

    def close(self) -> None:
        with self._lock:
            self.con.close()


def _same_run(stored: JobRecord, read: JobRecord) -> bool:
    """``stored`` is still the running job ``read`` was read as (same owner, start, heartbeat)."""
    return stored.state == "running" and (stored.owner, stored.attempts, stored.heartbeat) == (
        read.owner,
        read.attempts,
        read.heartbeat,
    )
