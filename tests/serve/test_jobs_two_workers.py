"""No ingest job runs twice: two server workers (``serve.workers: 2``, one port) over a KB kept in
PostgreSQL and a PostgreSQL server state take jobs from one queue for more than a recovery period
(each worker's idle threads look for orphaned jobs every ``LEASE_S / 10``); then the worker running
a job is killed with ``kill -9`` mid-job. A sampler reads the job table all along and shows that a
job is only ever running in one worker, that only the killed worker's job went back to the queue,
after the kill, to be finished by another worker, and every uploaded file became one document.
The race under it (two threads or workers recovering the same orphaned job) is shown on both state
stores directly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from industry_expert.serve.jobs import LEASE_S, new_job, owner_alive, owner_id

FILES_PER_JOB = 3
FINAL = ("done", "failed", "cancelled", "interrupted")


def _doc(tag: str) -> bytes:
    words = " ".join(f"{tag.lower()}{i} reading {i * 7} on gauge {i}" for i in range(20))
    body = "\n\n".join(f"## {tag} part {s}\n\n{words} (part {s} of the {tag} log)." for s in range(4))
    return f"# {tag} log\n\n{body}\n".encode()


class Sampler(threading.Thread):
    """Reads every job's state, owner, attempts and progress from PostgreSQL every 50 ms."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        import psycopg

        self.con = psycopg.connect(dsn, autocommit=True)  # the sampler's; ``now`` reads on its own
        self.main = psycopg.connect(dsn, autocommit=True)
        self.rows: list[tuple[float, dict[str, dict[str, Any]]]] = []
        self.halt = threading.Event()

    def now(self) -> dict[str, dict[str, Any]]:
        """The jobs as they are now, read on the caller's connection."""
        return self.read(self.main)

    @staticmethod
    def read(con: Any) -> dict[str, dict[str, Any]]:
        with con.cursor() as cur:
            cur.execute("SELECT id, state, record FROM ie_jobs")
            return {i: {**json.loads(r), "state": s} for i, s, r in cur.fetchall()}

    def run(self) -> None:
        while not self.halt.is_set():
            self.rows.append((time.time(), self.read(self.con)))
            time.sleep(0.05)

    def history(self, job_id: str) -> list[tuple[float, str, str, int]]:
        """(time, state, owner, attempts) each time one of them changed."""
        out: list[tuple[float, str, str, int]] = []
        for t, jobs in self.rows:
            j = jobs.get(job_id)
            if j is not None and (not out or out[-1][1:] != (j["state"], j["owner"], j["attempts"])):
                out.append((t, j["state"], j["owner"], j["attempts"]))
        return out


def _pid(owner: str) -> int:
    return int(owner.split(":")[1])


@pytest.fixture()
def two_workers(pg_dsn: str, tmp_path: Path, serve_kbs: dict[str, Path]) -> Iterator[dict[str, Any]]:
    from tests.serve.conftest import Server, free_port, pg_state_with_key, wait_for_workers, write_config

    from industry_expert.kb_copy import copy_kb

    kbs = {name: tmp_path / f"kb-{name}" for name in ("kestrel", "other")}
    for name, path in kbs.items():  # both KBs in PostgreSQL: each worker has an idle KB thread too
        copy_kb(serve_kbs[name], path, pg_dsn)
    token = pg_state_with_key(tmp_path, pg_dsn, "two-workers", {"kestrel": "write"})
    port = free_port()
    serve = {"port": port, "state_dir": str(tmp_path / "state"), "state_url": pg_dsn, "workers": 2,
             "kbs": {n: {"path": str(p)} for n, p in kbs.items()}}  # fmt: skip
    config = write_config(tmp_path / "serve.json", serve, ingest={"embed_wave_chunks": 4})
    server = Server(config, port, tmp_path / "server.log").start()
    sampler = Sampler(pg_dsn)
    try:
        workers = wait_for_workers(server, 2)
        yield {"server": server, "token": token, "workers": workers, "ready": time.time(),
               "sampler": sampler, "kb": kbs["kestrel"]}  # fmt: skip
    finally:
        sampler.halt.set()
        assert server.stop() in (0, -15)


def _post(ctx: dict[str, Any], n: int) -> str:
    import httpx
    from tests.serve.conftest import auth

    files = [("files", (f"w{n}-{i}.md", _doc(f"W{n}x{i}"))) for i in range(FILES_PER_JOB)]
    r = httpx.post(
        ctx["server"].url + "/v1/kbs/kestrel/documents", headers=auth(ctx["token"]), files=files, timeout=60
    )
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _feed_then_kill(ctx: dict[str, Any], sampler: Sampler) -> tuple[list[str], str, float, int]:
    """Keep two jobs queued until a recovery period has passed in every worker, then kill -9 the
    worker running a job that has committed some of its files and not all."""
    posted, period = [], LEASE_S / 10 + 15  # the second worker's threads start a little later
    while True:
        jobs = sampler.now()
        if sum(j["state"] == "queued" for j in jobs.values()) < 2 and len(posted) < 200:
            posted.append(_post(ctx, len(posted)))
        running = [j for j in jobs.values() if j["state"] == "running"]
        late = time.time() - ctx["ready"] > period
        if late and running and 1 <= running[0]["files_done"] < FILES_PER_JOB:
            victim = running[0]
            pid = _pid(victim["owner"])
            assert pid in ctx["workers"], (victim["owner"], ctx["workers"])
            # a job can finish between a read and a kill: freeze the worker, read again, then kill
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.2)  # a commit the worker sent before it froze lands first
            again = sampler.now()[victim["id"]]
            if (
                again["state"] == "running"
                and again["owner"] == victim["owner"]
                and again["files_done"] < FILES_PER_JOB
            ):
                os.kill(pid, signal.SIGKILL)
                return posted, victim["id"], time.time(), pid
            os.kill(pid, signal.SIGCONT)  # it finished first: catch another job mid-way
        assert time.time() - ctx["ready"] < period + 60, "no job was caught mid-way to kill its worker"
        time.sleep(0.02)


@pytest.mark.serve
@pytest.mark.slow
@pytest.mark.postgres
def test_a_killed_workers_job_runs_again_only_after_it_is_gone_and_no_job_runs_twice(
    two_workers: dict[str, Any],
) -> None:
    ctx, sampler = two_workers, two_workers["sampler"]
    sampler.start()
    posted, victim, killed_at, killed_pid = _feed_then_kill(ctx, sampler)
    deadline = time.time() + 180
    while any(sampler.now()[j]["state"] not in FINAL for j in posted):
        assert time.time() < deadline, {j: sampler.now()[j]["state"] for j in posted}
        time.sleep(0.2)
    time.sleep(0.2)
    sampler.halt.set()
    sampler.join(5)
    final = sampler.now()

    # One writer per KB, across workers: never two jobs running at once, a job in one worker only.
    assert all(sum(j["state"] == "running" for j in jobs.values()) <= 1 for _, jobs in sampler.rows)
    assert any(t > ctx["ready"] + LEASE_S / 10 + 2 and t < killed_at for t, jobs in sampler.rows
               if any(j["state"] == "running" for j in jobs.values())), "no job ran across a recovery period"  # fmt: skip
    for job_id in posted:
        steps = sampler.history(job_id)
        assert final[job_id]["state"] == "done", final[job_id]
        owners = [o for _, s, o, _ in steps if s == "running"]
        if job_id != victim:  # claimed once, run by one worker, never queued again
            states = [s for i, (_, s, _, _) in enumerate(steps) if i == 0 or steps[i - 1][1] != s]
            assert states in (["queued", "running", "done"], ["running", "done"]), steps
            assert len(set(owners)) == 1 and final[job_id]["attempts"] == 1, steps
            continue
        # The killed worker's job: queued again only once its owner was dead, then run by another.
        assert _pid(owners[0]) == killed_pid and len(set(owners)) == 2, steps
        began = next(t for t, s, _, _ in steps if s == "running")
        left = next(t for t, s, o, _ in steps if t > began and (s == "queued" or o != owners[0]))
        assert left > killed_at, steps  # the live worker's job was never taken from it
        assert _pid(owners[-1]) != killed_pid and final[job_id]["attempts"] == 2, steps
        assert owners[-1] != owner_id(killed_pid)

    # Every uploaded file became exactly one document, committed once.
    from industry_expert.kb import KnowledgeBase

    with KnowledgeBase.open(ctx["kb"]) as kb:
        docs = kb.store.documents()
        assert kb.stats()["chunks"] == sum(d.n_chunks for d in docs)
    titles = [d.title for d in docs]
    for n in range(len(posted)):
        for i in range(FILES_PER_JOB):
            assert titles.count(f"W{n}x{i} log") == 1, (n, i)
    files = [final[j]["files"] for j in posted]
    assert all(f["status"] in ("ingested", "unchanged") for fs in files for f in fs)
    assert sum(f["status"] == "unchanged" for fs in files for f in fs) >= 1  # committed before the kill


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from industry_expert.serve.backend import open_state

    url = request.getfixturevalue("pg_dsn") if request.param == "postgresql" else None
    opened = open_state(tmp_path, url)
    if url:
        with opened.con.cursor() as cur:
            cur.execute("TRUNCATE ie_jobs")
    yield opened
    opened.close()


def test_a_stale_recovery_never_requeues_a_job_another_worker_took_again(state: Any) -> None:
    """Two recoverers (the KB threads of one worker, or two workers) read the same orphaned job;
    the first re-queues it and a live worker claims it; the second, acting on what it read, must
    leave it running there instead of queueing it for a third worker to run at the same time."""
    dead = subprocess.Popen(["sleep", "60"])
    dead_owner = owner_id(dead.pid)
    dead.kill()
    dead.wait()
    assert owner_alive(dead_owner) is False
    files = [{"name": "a.md", "path": "/nonexistent/a.md", "status": "pending"}]
    state.add_job(new_job("kestrel", "writer", files))
    job = state.claim_next("kestrel", dead_owner)
    job.attempts = 1
    state.save_job(job)  # what the dead worker wrote when it started the job
    first, second = state.unfinished_jobs(), state.unfinished_jobs()  # both read it orphaned
    first[0].state = "queued"
    assert state.settle_orphan(first[0])
    taken = state.claim_next("kestrel", owner_id(os.getpid()))
    assert taken is not None and taken.id == job.id
    second[0].state = "queued"
    assert not state.settle_orphan(second[0])
    now = state.job(job.id)
    assert now.state == "running" and now.owner == owner_id(os.getpid())
    assert state.claim_next("kestrel", "elsewhere:1:1") is None  # nobody else may start it
    second[0].state = "interrupted"
    assert not state.settle_orphan(second[0]) and state.job(job.id).state == "running"
