"""Uploads and ingest jobs over HTTP: hostile names, size limits, disguised binaries, duplicates,
cancel mid-job, and ``kill -9`` of the server mid-job followed by a restart."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.conftest import Server, auth, free_port, make_keys, write_config

pytestmark = [pytest.mark.slow, pytest.mark.serve]
KB = "kestrel"
FINAL = ("done", "failed", "cancelled", "interrupted")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, serve_kbs: dict[str, Path]) -> Iterator[dict[str, Any]]:
    """A server over a copy of the kestrel KB, uploads capped at 1 MB, one commit per file."""
    import shutil

    root = tmp_path_factory.mktemp("serve-up")
    kb = root / "kb"
    shutil.copytree(serve_kbs["kestrel"], kb)
    state = root / "state"
    keys = make_keys(state)
    port = free_port()
    serve = {"port": port, "state_dir": str(state), "kbs": {KB: {"path": str(kb)}}, "max_upload_mb": 1}
    config = write_config(root / "serve.json", serve, ingest={"embed_wave_chunks": 4})
    server = Server(config, port, root / "server.log").start()
    yield {"server": server, "keys": keys, "state": state, "kb": kb, "root": root}
    server.stop()


def post_files(ctx: dict[str, Any], files: list[tuple[str, bytes]]) -> httpx.Response:
    return httpx.post(
        ctx["server"].url + f"/v1/kbs/{KB}/documents",
        headers=auth(ctx["keys"]["writer"]),
        files=[("files", (name, data)) for name, data in files],
        timeout=60,
    )


def job(ctx: dict[str, Any], job_id: str) -> dict[str, Any]:
    r = httpx.get(ctx["server"].url + f"/v1/jobs/{job_id}", headers=auth(ctx["keys"]["writer"]), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def wait(
    ctx: dict[str, Any], job_id: str, until: Any = lambda j: j["state"] in FINAL, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = job(ctx, job_id)
        if until(j):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {j['state']} after {timeout} s: {j}")


def documents(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    r = httpx.get(
        ctx["server"].url + f"/v1/kbs/{KB}/documents", headers=auth(ctx["keys"]["writer"]), timeout=30
    )
    return r.json()["data"]  # type: ignore[no-any-return]


def consistent(kb: Path) -> dict[str, int]:
    """The KB opens; every document's chunk count matches the chunks stored."""
    from industry_expert.kb import KnowledgeBase

    with KnowledgeBase.open(kb) as opened:
        docs = opened.store.documents()
        stats = opened.stats()
    assert stats["chunks"] == sum(d.n_chunks for d in docs)
    assert len({d.abs_path for d in docs}) == len(docs)  # each file once
    return {"documents": len(docs), "chunks": stats["chunks"]}


def long_doc(tag: str, sections: int = 10) -> bytes:
    words = " ".join(f"{tag.lower()}{i} measured value {i * 7} on line {i}" for i in range(24))
    body = "\n\n".join(
        f"## {tag} section {s}\n\n{words} (part {s} of the {tag} report)." for s in range(sections)
    )
    return f"# {tag} report\n\n{body}\n".encode()


def test_hostile_names_stay_inside_the_uploads_folder(up: dict[str, Any]) -> None:
    outside = up["root"].parent / "evil-traversal.md"
    r = post_files(
        up,
        [
            ("../../evil-traversal.md", b"# Evil\n\nTraversal attempt text.\n"),
            ("/tmp/abs-evil-h5.md", b"# Abs\n\nAbsolute path text.\n"),
        ],
    )
    assert r.status_code == 202, r.text
    done = wait(up, r.json()["id"])
    assert [f["name"] for f in done["files"]] == ["evil-traversal.md", "abs-evil-h5.md"]
    assert [f["status"] for f in done["files"]] == ["ingested", "ingested"]
    assert not outside.exists() and not Path("/tmp/abs-evil-h5.md").exists()
    uploads = (up["state"] / "uploads" / KB).resolve()
    stored = [Path(p).resolve() for p in uploads.rglob("*evil*.md")]
    assert len(stored) == 2 and all(p.is_relative_to(uploads) for p in stored)
    for bad in (b"bad\x00name.md", b"bad\nname.md", b"bad\rname.md"):
        body = (
            b'--B\r\nContent-Disposition: form-data; name="files"; filename="'
            + bad
            + b'"\r\n\r\nx\r\n--B--\r\n'
        )
        r = httpx.post(
            up["server"].url + f"/v1/kbs/{KB}/documents",
            headers={**auth(up["keys"]["writer"]), "Content-Type": "multipart/form-data; boundary=B"},
            content=body,
        )
        assert r.status_code == 400 and r.json()["error"]["code"] in (
            "invalid_file_name",
            "invalid_multipart",
        ), (bad, r.text)
    assert not list((uploads / ".incoming").iterdir())


def test_oversize_is_refused_before_it_is_all_read(up: dict[str, Any]) -> None:
    """Content-Length over the limit: 413 while most of the body was never sent."""
    head = (
        f"POST /v1/kbs/{KB}/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {up['keys']['writer']}\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 50000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", up["server"].port), timeout=20) as s:
        s.sendall(
            head
            + b'--B\r\nContent-Disposition: form-data; name="files"; filename="big.md"\r\n\r\n'
            + b"x" * 65536
        )
        reply = s.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'--B\r\nContent-Disposition: form-data; name="files"; filename="big2.md"\r\n\r\n'
        for _ in range(40):
            yield b"y" * 65536

    try:
        r = httpx.post(
            up["server"].url + f"/v1/kbs/{KB}/documents",
            headers={**auth(up["keys"]["writer"]), "Content-Type": "multipart/form-data; boundary=B"},
            content=chunks(),
        )
        assert r.status_code == 413, r.text
    except httpx.TransportError:
        pass  # the server answered 413 and closed while the client was still sending
    assert not list((up["state"] / "uploads" / KB / ".incoming").iterdir())
    assert not list((up["state"] / "uploads" / KB).rglob("big*.md"))


def test_disguised_binary_and_same_file_twice(up: dict[str, Any]) -> None:
    elf = b"\x7fELF\x02\x01\x01\x00" + os.urandom(4000)
    note = b"# Zebra note\n\nThe zebra pump ZX-9 has a blue handle.\n"
    r = post_files(up, [("manual.pdf", elf), ("readme.md", elf), ("zebra.md", note)])
    first = wait(up, r.json()["id"])
    status = {f["name"]: (f["status"], f["reason"]) for f in first["files"]}
    assert status["manual.pdf"][0] == "failed" and status["manual.pdf"][1]
    assert status["readme.md"][0] == "failed" and status["readme.md"][1]
    assert status["zebra.md"][0] == "ingested" and first["state"] == "done"
    again = wait(up, post_files(up, [("zebra-copy.md", note)]).json()["id"])
    assert again["files"][0]["status"] == "unchanged" and again["chunks_added"] == 0
    zebras = [d for d in documents(up) if d["title"] == "Zebra note"]
    assert len(zebras) == 1
    f = httpx.get(
        up["server"].url + f"/v1/kbs/{KB}/documents/{zebras[0]['doc_id']}/file",
        headers=auth(up["keys"]["reader"]),
    )
    assert f.status_code == 200 and f.content == note and "sandbox" in f.headers["content-security-policy"]
    gone = httpx.delete(
        up["server"].url + f"/v1/kbs/{KB}/documents/{zebras[0]['doc_id']}", headers=auth(up["keys"]["writer"])
    )
    assert gone.status_code == 200 and gone.json()["removed_chunks"] >= 1
    assert not [d for d in documents(up) if d["title"] == "Zebra note"]
    consistent(up["kb"])


def test_cancel_mid_job_keeps_what_was_committed(up: dict[str, Any]) -> None:
    files = [(f"cancel-{i}.md", long_doc(f"Cancel{i}")) for i in range(8)]
    job_id = post_files(up, files).json()["id"]
    wait(up, job_id, lambda j: j["files_done"] >= 1 or j["state"] in FINAL)
    t0 = time.monotonic()  # the KB keeps answering while its writer works
    hits = httpx.post(
        up["server"].url + f"/v1/kbs/{KB}/search",
        json={"query": "safety shoes"},
        headers=auth(up["keys"]["reader"]),
    )
    assert hits.status_code == 200 and hits.json()["data"] and time.monotonic() - t0 < 10
    assert job(up, job_id)["state"] == "running"
    r = httpx.delete(up["server"].url + f"/v1/jobs/{job_id}", headers=auth(up["keys"]["writer"]))
    assert r.status_code == 200
    end = wait(up, job_id)
    assert end["state"] == "cancelled", end
    done = [f for f in end["files"] if f["status"] == "ingested"]
    assert 1 <= len(done) < len(files)
    assert {f["status"] for f in end["files"]} <= {"ingested", "cancelled"}
    titles = {d["title"] for d in documents(up)}
    for f in end["files"]:
        assert (f["name"].replace("cancel-", "Cancel").removesuffix(".md") + " report" in titles) == (
            f["status"] == "ingested"
        )
    consistent(up["kb"])


def job_state_on_disk(ctx: dict[str, Any], job_id: str) -> dict[str, Any]:
    from industry_expert.serve.sqlite_state import SQLiteState

    state = SQLiteState(ctx["state"])
    try:
        found = state.job(job_id)
    finally:
        state.close()
    assert found is not None
    return {"state": found.state, "attempts": found.attempts, "files_done": found.files_done}


def test_sigterm_then_kill9_mid_job_then_restart_resumes(up: dict[str, Any]) -> None:
    files = [(f"crash-{i}.md", long_doc(f"Crash{i}", sections=6)) for i in range(6)]
    job_id = post_files(up, files).json()["id"]
    wait(up, job_id, lambda j: j["files_done"] >= 1)
    assert up["server"].stop() in (0, -15)  # SIGTERM: the current file is finished, the job queued again
    after_term = job_state_on_disk(up, job_id)
    assert after_term["state"] == "queued" and after_term["attempts"] == 0, after_term
    up["server"].start()
    wait(up, job_id, lambda j: j["files_done"] > after_term["files_done"])
    up["server"].kill9()
    assert job_state_on_disk(up, job_id)["state"] == "running"
    consistent(up["kb"])  # what the killed process committed opens cleanly
    up["server"].start()
    end = wait(up, job_id)
    assert end["state"] == "done" and end["attempts"] == 2, end
    assert {f["status"] for f in end["files"]} <= {"ingested", "unchanged"}
    titles = [d["title"] for d in documents(up)]
    assert all(titles.count(f"Crash{i} report") == 1 for i in range(6))
    counts = consistent(up["kb"])
    assert counts["documents"] == len(titles)
