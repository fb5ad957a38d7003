"""Durable ingest jobs: one writer thread per KB takes queued jobs in order and runs the library's
``ingest`` on the job's stored files. Progress is written after every file; a cancel stops between
files (what is committed stays). After a restart or ``kill -9``, a job left ``running`` is queued
again (ingest is idempotent: committed documents come back as unchanged) or, after
``MAX_ATTEMPTS`` starts, reported ``interrupted``."""

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
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

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
                self._finish(job, "interrupted", f"the server stopped during this job ({why})")
                out["interrupted"].append(job.id)
            else:
                job.state = "queued"
                self.rt.state.save_job(job)
                out["resumed"].append(job.id)
        return out

    def _orphaned(self, job: JobRecord) -> bool:
        """The process that ran ``job`` is gone: it was this one (restarted with the same identity),
        a dead process on this host, or it has not written progress for ``LEASE_S``."""
        host, _, pid = job.owner.rpartition(":")
        if not job.owner or job.owner == self.owner:
            return True
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            return True
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
            self._progress(job, by_path, report)

        def stop() -> bool:
            return self.stopping.is_set() or self.rt.state.cancel_requested(job.id)

        kb = self.rt.kbs[job.kb]
        try:
            ingest(list(by_path), kb.path, self.rt.full, on_progress=progress, should_stop=stop)
        except ExpertError as exc:
            return self._finish(job, "failed", str(exc))
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

    def _progress(self, job: JobRecord, by_path: dict[str, list[dict[str, Any]]], report: Any) -> None:
        for fr in report.files:
            for f in by_path.get(fr.source) or by_path.get(str(Path(fr.source))) or []:
                f.update(status=fr.status, reason=fr.reason, chunks=fr.chunks)
        job.files_done = sum(1 for f in job.files if f["status"] != "pending")
        job.chunks_added, job.heartbeat = report.chunks_added, time.time()
        self.rt.state.save_job(job)

    def _finish(self, job: JobRecord, state: str, error: str | None) -> None:
        job.state, job.error, job.finished = state, error, time.time()
        if state == "cancelled":
            for f in job.files:
                if f["status"] == "pending":
                    f["status"] = "cancelled"
        self.rt.state.save_job(job)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
