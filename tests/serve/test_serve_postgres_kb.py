"""Two server workers (`serve.workers: 2`, one port) over a KB kept in PostgreSQL and a PostgreSQL
server state: a document uploaded through whichever worker answers is found by every worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serve, pytest.mark.slow, pytest.mark.postgres]


def test_upload_through_one_worker_is_searchable_from_every_worker(
    pg_dsn: str, tmp_path: Path, serve_kbs: dict[str, Path]
) -> None:
    import httpx
    from tests.serve.conftest import (
        Server,
        auth,
        free_port,
        pg_state_with_key,
        wait_for_workers,
        write_config,
    )

    from industry_expert.kb_copy import copy_kb

    kb = tmp_path / "kb-pg"
    copy_kb(serve_kbs["kestrel"], kb, pg_dsn)  # the KB's chunks and vectors now live in PostgreSQL
    token = pg_state_with_key(tmp_path, pg_dsn, "pg-writer", {"kestrel": "write"})
    port = free_port()
    serve = {"port": port, "state_dir": str(tmp_path / "state"), "state_url": pg_dsn, "workers": 2,
             "kbs": {"kestrel": {"path": str(kb)}}}  # fmt: skip
    server = Server(write_config(tmp_path / "serve.json", serve), port, tmp_path / "server.log").start()
    try:
        workers = wait_for_workers(server, 2)
        deadline = time.monotonic()
        note = b"# Zebra valve\n\nThe zebra valve on the KF-340 is checked every 400 hours.\n"
        job = httpx.post(
            server.url + "/v1/kbs/kestrel/documents",
            headers=auth(token),
            files=[("files", ("zebra.md", note))],
        ).json()
        while (seen := httpx.get(server.url + f"/v1/jobs/{job['id']}", headers=auth(token)).json())[
            "state"
        ] != "done":
            assert time.monotonic() < deadline + 90 and seen["state"] in ("queued", "running"), seen
            time.sleep(0.2)
        answered, found = set(), []
        for _ in range(16):  # requests land on either worker; every one must find the new document
            answered.add(httpx.get(server.url + "/healthz").json()["pid"])
            hits = httpx.post(
                server.url + "/v1/kbs/kestrel/search",
                headers=auth(token),
                json={"query": "zebra valve", "k": 3},
            ).json()["data"]
            found.append(bool(hits) and "zebra" in hits[0]["text"].lower())
        assert all(found) and answered == workers
    finally:
        assert server.stop() in (0, -15)
