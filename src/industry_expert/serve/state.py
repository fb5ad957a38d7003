"""Server state behind small Protocols (keys, jobs, rate limits), so that several workers can share
it: :mod:`industry_expert.serve.sqlite_state` keeps it in one SQLite file in the state folder; another
backend plugs in through :func:`industry_expert.serve.backend.open_state`."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")


@dataclass
class KeyRecord:
    """An API key as stored: only the SHA-256 of the token, never the token."""

    name: str
    digest: str  # hex sha256 of the token
    scopes: dict[str, str]  # KB name -> "read" | "write"
    admin: bool = False
    created: float = field(default_factory=time.time)
    expires: float | None = None
    revoked: float | None = None

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("digest")
        return d


@dataclass
class JobRecord:
    """An ingest job: the files it was given (already stored on disk) and each one's fate."""

    id: str
    kb: str
    key: str  # name of the key that created it
    files: list[dict[str, Any]]  # {name, path, status, reason, chunks}
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    files_done: int = 0
    chunks_added: int = 0
    error: str | None = None
    cancel: bool = False
    attempts: int = 0  # runs started and not stopped gracefully (a crash-resumed job has several)
    owner: str = ""  # "host:pid" of the server process running it
    heartbeat: float | None = None  # last progress write of the running job

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d["files_total"] = len(self.files)
        d["files"] = [{k: v for k, v in f.items() if k != "path"} for f in self.files]
        d["object"] = "ingest.job"
        return d


class KeyStore(Protocol):
    def add_key(self, record: KeyRecord) -> None:
        """Store a new key; raises ``ConfigError`` when an active key has that name."""

    def key_by_digest(self, digest: str) -> KeyRecord | None: ...

    def list_keys(self) -> list[KeyRecord]: ...

    def revoke_key(self, name: str) -> bool:
        """Revoke the active key of that name; False when there is none."""

    def any_keys(self) -> bool:
        """True when at least one key (active or not) exists: auth is then always required."""


class JobStore(Protocol):
    def add_job(self, job: JobRecord) -> None: ...

    def job(self, job_id: str) -> JobRecord | None: ...

    def save_job(self, job: JobRecord) -> None:
        """Write the job's whole record (progress, state) durably."""

    def jobs(self, kb: str | None = None, limit: int = 100) -> list[JobRecord]: ...

    def next_queued(self, kb: str) -> JobRecord | None: ...

    def claim_next(self, kb: str, owner: str) -> JobRecord | None:
        """Atomically mark the oldest queued job of ``kb`` running for ``owner`` and return it;
        None when none is queued or one of ``kb`` is already running (one writer per KB, also
        across server processes)."""

    def settle_orphan(self, job: JobRecord) -> bool:
        """Atomically write ``job`` (its new state set by a recovery) only if its stored row is
        still ``running`` with the owner, attempts and heartbeat ``job`` was read with; whether it
        was written."""

    def request_cancel(self, job_id: str) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...

    def job_counts(self) -> dict[str, int]: ...

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs not in a final state, oldest first (after a restart: the ones a crash left)."""


class RateLimiter(Protocol):
    def hit(self, key: str, per_minute: int) -> float | None:
        """Count one request of ``key``; the seconds to wait when over the limit, else None."""


class State(KeyStore, JobStore, RateLimiter, Protocol):
    def close(self) -> None: ...
