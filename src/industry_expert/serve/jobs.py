"""Durable ingest jobs: one writer thread per KB takes queued jobs in order and runs the library's
``ingest`` on the job's stored files. Progress is written after every file; a cancel stops between
files (what is committed stays). After a restart or ``kill -9``, a job left ``running`` is queued
again (ingest is idempotent: committed documents come back as unchanged) or, after
``MAX_ATTEMPTS`` starts, reported ``interrupted``; only when its owner is really gone, and only
by the first thread or process to settle it (``State.settle_orphan``), so no job runs twice."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from industry_expert.serve.state import JobRecord

OPEN_FILE_STATES = ("pending", "running")
"""A job's file before its fate is known (``running``: read, not yet committed)."""
UNCOMMITTED = ("failed", "skipped", "cancelled")
"""A job's file that became no document: its stored upload is deleted when the job ends."""
MAX_ATTEMPTS = 3
LEASE_S = 600.0
"""A running job with no progress written for this long belongs to a dead process (any host)."""
log = logging.getLogger("industry_expert.serve")


def new_job(kb: str, key: str, files: list[dict[str, Any]]) -> JobRecord:
    return JobRecord(id="job_" + uuid.uuid4().hex[:24], kb=kb, key=key, files=files)


class Jobs:
    """The per-KB writer threads over the job store of ``runtime.state``."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.stopping = threading.Event()
        self._wake = {kb: threading.Event() for kb in runtime.kbs}
        self._threads: list[threading.Thread] = []
        self.owner = owner_id(os.getpid())
        """``host:pid:start``: this process, told apart from a later one that reuses its pid."""

    def recover(self) -> dict[str, list[str]]:
        """Settle the jobs a dead server process left running: queued again (resumed), or
        ``interrupted`` after ``MAX_ATTEMPTS`` starts or when this process does not serve the KB.
        Jobs of a live process (another worker) and queued jobs are left alone."""
        out: dict[str, list[str]] = {"resumed": [], "interrupted": [], "queued": []}
        for job in self.rt.state.unfinished_jobs():
            if job.state == "queued":
                if job.kb in self._wake:
                    out["queued"].append(job.id)
                continue
            if not self._orphaned(job):
                continue
            if job.kb not in self._wake or job.attempts >= MAX_ATTEMPTS:
                why = "its KB is no longer served" if job.kb not in self._wake else f"{job.attempts} starts"
                job.state, job.finished = "interrupted", time.time()
                job.error = f"the server stopped during this job ({why})"
                if self.rt.state.settle_orphan(job):
                    self._remove_files(job)
                    out["interrupted"].append(job.id)
            else:
                job.state = "queued"
                if self.rt.state.settle_orphan(job):  # not when another thread or worker was first
                    out["resumed"].append(job.id)
        return out

    def _orphaned(self, job: JobRecord) -> bool:
        """The process that ran ``job`` is gone: on this host, its pid is dead or now another
        process's; elsewhere (or when that cannot be told), it has not written progress for
        ``LEASE_S``. A job of this very process is never orphaned."""
        if not job.owner:
            return True
        if job.owner == self.owner:
            return False
        alive = owner_alive(job.owner)
        if alive is False:
            return True
        if alive is True:
            return False
        return job.heartbeat is None or time.time() - job.heartbeat > LEASE_S

    def start(self) -> None:
        for kb in self._wake:
            t = threading.Thread(target=self._loop, args=(kb,), name=f"jobs-{kb}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, job: JobRecord) -> None:
        self.rt.state.add_job(job)
        self._wake[job.kb].set()

    def cancel(self, job: JobRecord) -> JobRecord:
        self.rt.state.request_cancel(job.id)
        fresh = self.rt.state.job(job.id) or job
        if fresh.state == "queued":
            self._finish(fresh, "cancelled", None)
        return self.rt.state.job(job.id) or fresh

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop after the current file; running jobs go back to ``queued`` (resumed on restart)."""
        self.stopping.set()
        for event in self._wake.values():
            event.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, kb: str) -> None:
        checked = time.monotonic()
        while not self.stopping.is_set():
            job = self.rt.state.claim_next(kb, self.owner)
            if job is None:
                self._wake[kb].wait(1.0)
                self._wake[kb].clear()
                if time.monotonic() - checked > LEASE_S / 10:  # a worker elsewhere may have died
                    checked = time.monotonic()
                    self.recover()
                continue
            try:
                self.run(job)
            except Exception as exc:  # noqa: BLE001 - a job's failure must not kill the writer
                log.exception("job %s failed", job.id)
                self._finish(job, "failed", f"{exc.__class__.__name__}: {exc}")

    def run(self, job: JobRecord) -> None:
        from industry_expert.errors import ExpertError
        from industry_expert.ingest.pipeline import ingest

        if job.cancel or self.rt.state.cancel_requested(job.id):
            return self._finish(job, "cancelled", None)
        job.state, job.started, job.attempts = "running", time.time(), job.attempts + 1
        job.owner, job.heartbeat = self.owner, time.time()
        self.rt.state.save_job(job)
        by_path: dict[str, list[dict[str, Any]]] = {}
        for f in job.files:  # the same content twice in one upload is one file (one document)
            by_path.setdefault(f["path"], []).append(f)

        def progress(report: Any) -> None:
            self._progress(job, by_path, report, final=False)

        def stop() -> bool:
            return self.stopping.is_set() or self.rt.state.cancel_requested(job.id)

        kb = self.rt.kbs[job.kb]
        try:
            report = ingest(list(by_path), kb.path, self.rt.full, on_progress=progress, should_stop=stop)
        except ExpertError as exc:
            return self._finish(job, "failed", str(exc))
        self._progress(job, by_path, report, final=True)
        if self.rt.state.cancel_requested(job.id):
            return self._finish(job, "cancelled", None)
        if self.stopping.is_set() and job.files_done < len(job.files):
            job.state = "queued"  # SIGTERM: resumed by the next server process
            job.attempts -= 1  # a graceful stop is not a failed start
            self.rt.state.save_job(job)
            return None
        failed = all(f["status"] == "failed" for f in job.files)
        return self._finish(
            job, "failed" if failed else "done", "no file could be ingested" if failed else None
        )

    def _progress(
        self, job: JobRecord, by_path: dict[str, list[dict[str, Any]]], report: Any, final: bool
    ) -> None:
        """The report's fate of each file. Until the run ends, ``unchanged`` is not trusted: the
        pipeline reports a file waiting for its embedding wave that way too, so it shows
        ``running`` until it is committed."""
        for fr in report.files:
            status = "running" if fr.status == "unchanged" and not final else fr.status
            for f in by_path.get(fr.source) or by_path.get(str(Path(fr.source))) or []:
                f.update(status=status, reason=fr.reason, chunks=fr.chunks)
        job.files_done = sum(1 for f in job.files if f["status"] not in OPEN_FILE_STATES)
        job.chunks_added, job.heartbeat = report.chunks_added, time.time()
        self.rt.state.save_job(job)

    def _finish(self, job: JobRecord, state: str, error: str | None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        if state in ("cancelled", "failed"):
            for f in job.files:
                if f["status"] in OPEN_FILE_STATES:
                    f["status"], f["reason"] = state, f.get("reason") or error
        self.rt.state.save_job(job)
        self._remove_files(job)

    def _remove_files(self, job: JobRecord) -> None:
        try:
            self._remove_uncommitted(job)
        except Exception:  # noqa: BLE001 - the job's record is written; a stray file is no failure
            log.exception("job %s: could not remove its refused files", job.id)

    def _remove_uncommitted(self, job: JobRecord) -> None:
        """Delete the stored uploads of the job that became no document (refused, cancelled),
        unless a document or another unfinished job still uses the same stored file."""
        from industry_expert.serve.uploads import remove_stored

        served = self.rt.kbs.get(job.kb)
        if getattr(served, "uploads", None) is None:
            return
        kept = {f["path"] for f in job.files if f["status"] not in UNCOMMITTED}
        paths = {f["path"] for f in job.files if f["status"] in UNCOMMITTED} - kept
        if not paths:
            return
        busy = {f["path"] for j in self.rt.state.unfinished_jobs() if j.id != job.id for f in j.files}
        with served.borrow() as handle:
            docs = {d.abs_path for d in handle.store.documents()}
        for path in paths - busy:
            if os.path.realpath(path) not in docs:
                remove_stored(Path(path), served.uploads)


def start_token(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``); None if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_id(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{start_token(pid) or uuid.uuid4().hex[:12]}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by ``owner`` (``host:pid[:start]``) still runs: None when that
    cannot be told here (another host; no start time to tell a reused pid apart)."""
    host, _, rest = owner.partition(":")
    pid, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if not _alive(int(pid)):
        return False
    now = start_token(int(pid))
    if token and now is not None:
        return token == now
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
