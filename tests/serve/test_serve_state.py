"""The server-state contract (keys, jobs, rate limits), run on every backend: SQLite in a folder,
and PostgreSQL (a real server from pgserver) for several server processes."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from industry_expert.errors import ConfigError
from industry_expert.serve.auth import authenticate, create_key, digest
from industry_expert.serve.errors import APIError
from industry_expert.serve.state import JobRecord, State


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    from industry_expert.serve.backend import open_state

    if request.param == "sqlite":
        s = open_state(tmp_path)
    else:
        s = open_state(tmp_path, request.getfixturevalue("pg_dsn"))
        with s.con.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("TRUNCATE ie_keys, ie_jobs, ie_buckets")
    yield s
    s.close()


def test_keys_are_random_hashed_and_checked(state: State, tmp_path: Path) -> None:
    assert authenticate(state, None).admin  # no key at all: local open access
    token, record = create_key(state, "alice", {"kestrel": "read"})
    other, _ = create_key(state, "bob", {"manuals": "write"}, expires=time.time() - 1)
    assert token.startswith("ie_") and len(token) == 3 + 43 and token != other
    assert record.digest == digest(token) and all(k.digest != token for k in state.list_keys())
    if (tmp_path / "serve.sqlite").exists():
        assert token not in (tmp_path / "serve.sqlite").read_bytes().decode("latin-1")
    p = authenticate(state, f"Bearer {token}")
    assert (p.name, p.can("kestrel"), p.can("kestrel", "write"), p.can("manuals")) == (
        "alice",
        True,
        False,
        False,
    )
    for header, why in (
        (None, "missing"),
        ("Basic abc", "missing"),
        (f"Bearer {token}x", "invalid"),
        (f"Bearer {other}", "expired"),
    ):
        with pytest.raises(APIError) as exc:
            authenticate(state, header)
        assert exc.value.status == 401 and why in exc.value.message
    assert state.revoke_key("alice") and not state.revoke_key("alice")
    with pytest.raises(APIError, match="revoked"):
        authenticate(state, f"Bearer {token}")
    with pytest.raises(ConfigError, match="exists"):
        create_key(state, "bob", {"x": "read"})
    create_key(state, "alice", {"kestrel": "write"})  # a revoked name can be reused
    assert [k.name for k in state.list_keys()] == ["alice", "bob", "alice"]


def test_rate_limit_bucket_refills(state: State) -> None:
    assert [state.hit("k", 3) for _ in range(3)] == [None, None, None]
    wait = state.hit("k", 3)
    assert wait is not None and 0 < wait <= 20
    assert state.hit("other", 3) is None


def _job(job_id: str, kb: str = "kb", **kw: Any) -> JobRecord:
    return JobRecord(job_id, kb, "alice", [{"name": "a.md", "path": "/x/a.md", "status": "pending"}], **kw)


def test_one_writer_per_kb_and_cancel(state: State) -> None:
    for j in (_job("a1"), _job("a2"), _job("b1", "other")):
        state.add_job(j)
        time.sleep(0.01)
    first = state.claim_next("kb", "host:1")
    assert first is not None and first.id == "a1" and first.state == "running" and first.owner == "host:1"
    assert state.claim_next("kb", "host:2") is None  # a1 runs: kb has its writer
    assert state.claim_next("other", "host:2").id == "b1"  # type: ignore[union-attr]
    first.state = "done"
    state.save_job(first)
    assert state.claim_next("kb", "host:2").id == "a2"  # type: ignore[union-attr]
    state.request_cancel("a2")
    assert state.cancel_requested("a2") and state.job("a2").cancel  # type: ignore[union-attr]
    assert state.job_counts() == {"done": 1, "running": 2}
    assert [j.id for j in state.jobs("kb")] == ["a2", "a1"] and {j.id for j in state.unfinished_jobs()} == {
        "a2",
        "b1",
    }


def test_recovery_resumes_orphans_and_leaves_live_workers(state: State) -> None:
    from industry_expert.serve.jobs import LEASE_S, MAX_ATTEMPTS, Jobs

    host, now = socket.gethostname(), time.time()
    dead = _job("dead", state="running", attempts=1, owner=f"{host}:999999999", heartbeat=now)
    looping = _job("loop", state="running", attempts=MAX_ATTEMPTS, owner=f"{host}:999999999", heartbeat=now)
    live = _job("live", state="running", attempts=1, owner=f"{host}:{os.getppid()}", heartbeat=now)
    remote = _job("remote", state="running", attempts=1, owner="elsewhere:7", heartbeat=now - LEASE_S - 1)
    elsewhere = _job(
        "unserved", "gone", state="running", attempts=1, owner="elsewhere:8", heartbeat=now - LEASE_S - 1
    )
    for j in (dead, looping, live, remote, elsewhere):
        state.add_job(j)
    jobs = Jobs(SimpleNamespace(state=state, kbs={"kb": object()}))
    assert jobs.recover() == {
        "resumed": ["dead", "remote"],
        "interrupted": ["loop", "unserved"],
        "queued": [],
    }
    assert state.job("dead").state == "queued" and state.job("live").state == "running"  # type: ignore[union-attr]
    assert "3 starts" in (state.job("loop").error or "")  # type: ignore[union-attr]


def test_recovery_never_takes_a_job_of_this_very_process(state: State) -> None:
    """The KB's idle thread calls ``recover()`` every minute: a long job of this process (no
    progress written for longer than the lease) stays running; a job of a pid that now belongs
    to another process (its start time differs) is resumed."""
    from industry_expert.serve.jobs import LEASE_S, Jobs, owner_alive, owner_id

    jobs = Jobs(SimpleNamespace(state=state, kbs={"kb": object()}))
    assert jobs.owner == owner_id(os.getpid()) and owner_alive(jobs.owner) is True
    old = time.time() - LEASE_S - 60
    mine = _job("mine", state="running", attempts=1, owner=jobs.owner, heartbeat=old)
    reused = f"{socket.gethostname()}:{os.getppid()}:1"  # a live pid that started at another time
    assert owner_alive(reused) is False
    stale = _job("reused", state="running", attempts=1, owner=reused, heartbeat=time.time())
    for j in (mine, stale):
        state.add_job(j)
    assert jobs.recover() == {"resumed": ["reused"], "interrupted": [], "queued": []}
    assert jobs.recover()["resumed"] == []
    assert state.job("mine").state == "running"  # type: ignore[union-attr]


@pytest.mark.serve
@pytest.mark.postgres
@pytest.mark.slow
def test_two_server_processes_share_keys_and_jobs(
    pg_dsn: str, tmp_path: Path, serve_kbs: dict[str, Path]
) -> None:
    """Two `expert serve` processes over one PostgreSQL state: a key made once works on both; a job
    uploaded through one is seen through the other and run exactly once."""
    import shutil

    import httpx
    from tests.serve.conftest import Server, auth, free_port, write_config

    from industry_expert.serve.backend import open_state

    kb = tmp_path / "kb"
    shutil.copytree(serve_kbs["kestrel"], kb)
    state = open_state(tmp_path, pg_dsn)
    with state.con.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("TRUNCATE ie_keys, ie_jobs, ie_buckets")
    token = create_key(state, "shared", {"kestrel": "write"})[0]
    state.close()
    servers = []
    try:
        for name in ("a", "b"):
            port = free_port()
            serve = {
                "port": port,
                "state_dir": str(tmp_path / name),
                "state_url": pg_dsn,
                "kbs": {"kestrel": {"path": str(kb)}},
            }
            servers.append(
                Server(write_config(tmp_path / f"{name}.json", serve), port, tmp_path / f"{name}.log").start()
            )
        a, b = servers
        files = [
            ("files", (f"shared-{i}.md", f"# Shared {i}\n\nShared note number {i}.\n".encode()))
            for i in range(3)
        ]
        job = httpx.post(a.url + "/v1/kbs/kestrel/documents", headers=auth(token), files=files).json()
        deadline = time.monotonic() + 90
        while (seen := httpx.get(b.url + f"/v1/jobs/{job['id']}", headers=auth(token)).json())[
            "state"
        ] not in ("done", "failed"):
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
        assert seen["state"] == "done" and seen["attempts"] == 1
        assert [f["status"] for f in seen["files"]] == ["ingested"] * 3
        titles = [
            d["title"]
            for d in httpx.get(b.url + "/v1/kbs/kestrel/documents", headers=auth(token)).json()["data"]
        ]
        assert sorted(t for t in titles if t.startswith("Shared")) == ["Shared 0", "Shared 1", "Shared 2"]
    finally:
        for s in servers:
            s.stop()


@pytest.mark.serve
@pytest.mark.postgres
@pytest.mark.slow
def test_workers_share_the_sqlite_state(pg_dsn: str, tmp_path: Path, serve_kbs: dict[str, Path]) -> None:
    """`serve.workers: 2` (a KB in PostgreSQL: over the embedded store several workers are refused)
    with the keys, jobs and rate limits in the state folder's SQLite file: two processes answer on
    one port; a key created while they run works on both; an uploaded job runs once."""
    import httpx
    from tests.serve.conftest import Server, auth, free_port, wait_for_workers, worker_pids, write_config

    from industry_expert.kb_copy import copy_kb
    from industry_expert.serve.backend import open_state

    kb = tmp_path / "kb"
    copy_kb(serve_kbs["kestrel"], kb, pg_dsn)
    port = free_port()
    serve = {
        "port": port,
        "state_dir": str(tmp_path / "state"),
        "workers": 2,
        "kbs": {"kestrel": {"path": str(kb)}},
        "metrics_public": True,
    }
    server = Server(write_config(tmp_path / "serve.json", serve), port, tmp_path / "server.log").start()
    try:
        workers = wait_for_workers(server, 2)
        deadline = time.monotonic()
        state = open_state(tmp_path / "state")
        token = create_key(state, "late", {"kestrel": "write"})[0]
        state.close()
        before = healthz_count(server)
        answered = {httpx.get(server.url + "/healthz").json()["pid"] for _ in range(20)}
        assert answered == workers
        time.sleep(0.3)  # the last request is counted just after its response is sent
        # whichever worker answers the scrape counts every worker's requests
        assert [healthz_count(server) - before for _ in range(4)] == [20] * 4
        for _ in range(6):  # whichever worker answers knows the new key
            assert httpx.get(server.url + "/v1/me", headers=auth(token)).json()["name"] == "late"
        files = [("files", ("w.md", b"# Worker note\n\nWritten once by one of two workers.\n"))]
        job = httpx.post(server.url + "/v1/kbs/kestrel/documents", headers=auth(token), files=files).json()
        while (seen := httpx.get(server.url + f"/v1/jobs/{job['id']}", headers=auth(token)).json())[
            "state"
        ] != "done":
            assert time.monotonic() < deadline + 60 and seen["state"] in ("queued", "running"), seen
            time.sleep(0.2)
        assert seen["attempts"] == 1 and int(seen["owner"].split(":")[1]) in workers
    finally:
        assert server.stop() in (0, -15)
    assert not worker_pids(server)


def healthz_count(server: Any) -> float:
    """``ie_requests_total`` of ``GET /healthz`` as ``/metrics`` reports it."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics").text
    want = {"route": "/healthz", "method": "GET", "status": "200"}
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return sum(s.value for s in samples if s.name == "ie_requests_total" and s.labels == want)
