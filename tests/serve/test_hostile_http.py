"""``expert serve`` against a hostile client (issue 21): chunked bodies with and without a key, a
DNS-rebinding ``Host``, client errors (never recorded as server errors), what ``/readyz`` and
``source`` give away, bidi file names, refused and cancelled uploads, signed links after a key is
revoked and its name reused, SIGTERM, and served answers with non-default settings compared with
``expert ask --config``. Real servers on 127.0.0.1 over copies of the session's KBs."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tests.serve.conftest import Server, auth, free_port, make_keys, write_config

pytestmark = [pytest.mark.slow, pytest.mark.serve]

WARRANTY = "How long is the standard CareLine warranty on a Kestrel pump?"
ANSWER = {"k": 3, "max_tokens": 48}
FINAL = ("done", "failed", "cancelled", "interrupted")


def _copy_kbs(root: Path, serve_kbs: dict[str, Path]) -> dict[str, Path]:
    """Copies: the uploads here must not change the KBs other modules compare against."""
    out = {}
    for name, path in serve_kbs.items():
        out[name] = root / f"kb-{name}"
        shutil.copytree(path, out[name])
    return out


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, serve_kbs: dict[str, Path]) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("hostile-keyed")
    kbs, state = _copy_kbs(root, serve_kbs), root / "state"
    keys = make_keys(state)
    port = free_port()
    serve = {"port": port, "state_dir": str(state), "kbs": {n: {"path": str(p)} for n, p in kbs.items()}}
    server = Server(write_config(root / "serve.json", serve, answer=ANSWER), port, root / "server.log")
    ctx = {"server": server.start(), "keys": keys, "state": state, "kbs": kbs, "root": root}
    yield ctx
    assert server.stop() == 0, server.log.read_text()[-2000:]


SETTINGS = {"retrieve": {"rerank": "none", "weight_bm25": 0.0}, "answer": {"k": 2, "max_tokens": 40}}
"""Not the defaults: dense retrieval only, no rerank, two passages."""


@pytest.fixture(scope="module")
def open_server(
    tmp_path_factory: pytest.TempPathFactory, serve_kbs: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    """No key at all (everyone is admin, loopback only), non-default settings, a short grace."""
    root = tmp_path_factory.mktemp("hostile-open")
    kbs, port = _copy_kbs(root, serve_kbs), free_port()
    serve = {
        "port": port,
        "state_dir": str(root / "state"),
        "kbs": {n: {"path": str(p)} for n, p in kbs.items()},
        "allowed_hosts": ["expert.internal"],
        "grace_s": 2,
    }
    config = write_config(root / "serve.json", serve, **SETTINGS)
    server = Server(config, port, root / "server.log").start()
    yield {"server": server, "config": config, "kbs": kbs, "root": root, "state": root / "state"}
    server.stop()


# -- raw HTTP ------------------------------------------------------------------------------------


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def unfinished_chunked(
    port: int, path: str, headers: dict[str, str], send: int
) -> tuple[int, dict[str, Any]]:
    """POST ``send`` bytes of a chunked body to ``path`` and never finish it (no last chunk).
    Returns the status and JSON of the answer, which therefore came before the body ended: a
    server that read the whole body first would never answer (the read times out)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
    head += "Content-Type: application/json\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode() + b"\r\n")
        sent, piece = 0, b'{"model": "kestrel", "messages": [{"role": "user", "content": "' + b"x" * 65000
        try:
            while sent < send:
                s.sendall(_chunk(piece))
                sent, piece = sent + len(piece), b"x" * 65536
        except OSError:
            pass  # the server answered (and closed, or stopped reading) while the body was coming
        return _read_response(s)


def _read_response(s: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
            more = s.recv(65536)
            if not more:
                break
            data += more
    except TimeoutError:
        raise AssertionError(f"no answer while the body was unfinished: {data[:300]!r}") from None
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body[: _length(data)] or b"{}")


def _length(data: bytes) -> int:
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 1 << 30


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- 1. bodies -----------------------------------------------------------------------------------


def test_chunked_body_without_key_is_refused_before_it_is_read(keyed: dict[str, Any]) -> None:
    port = keyed["server"].port
    for path in ("/v1/chat/completions", "/v1/kbs/kestrel/search", "/v1/kbs/kestrel/documents"):
        for headers in ({}, {"Authorization": "Bearer ie_" + "A" * 43}):
            status, body = unfinished_chunked(port, path, headers, send=300_000)
            assert status == 401 and body["error"]["type"] == "authentication_error", (path, body)


def test_chunked_body_with_key_stops_at_the_limit(keyed: dict[str, Any]) -> None:
    port, reader = keyed["server"].port, auth(keyed["keys"]["reader"])
    pid = keyed["server"].proc.pid
    before = rss_kb(pid)
    for path in ("/v1/chat/completions", "/v1/kbs/kestrel/search", "/v1/embeddings", "/web/api/links"):
        status, body = unfinished_chunked(port, path, reader, send=8 << 20)  # 8 MB sent, 1 MB read
        assert status == 413 and body["error"]["code"] == "payload_too_large", (path, body)
    assert rss_kb(pid) - before < 64 * 1024  # KB: no 8 MB body held, let alone four
    with httpx.stream(  # an oversized body that is finished, chunked: 413 too
        "POST",
        keyed["server"].url + "/v1/kbs/kestrel/search",
        headers=reader,
        content=(b"x" * 65536 for _ in range(24)),
        timeout=30,
    ) as r:
        assert r.status_code == 413
    ok = httpx.post(
        keyed["server"].url + "/v1/kbs/kestrel/search", json={"query": "x" * 3000}, headers=reader
    )
    assert ok.status_code == 200  # under the limit nothing changes
    log = [json.loads(x) for x in (keyed["state"] / "requests.jsonl").read_text().splitlines()]
    assert sum(1 for x in log if x["status"] == 413) >= 5


# -- 6. host -------------------------------------------------------------------------------------


def test_host_rebinding_is_refused_without_keys(open_server: dict[str, Any]) -> None:
    server = open_server["server"]
    bad = httpx.get(server.url + "/v1/me", headers={"Host": f"attacker.example:{server.port}"})
    assert bad.status_code == 421 and "admin" not in bad.text, bad.text
    assert bad.json()["error"]["type"] == "invalid_request_error"
    chat = httpx.post(
        server.url + "/v1/chat/completions",
        headers={"Host": "attacker.example"},
        json={"model": "kestrel", "messages": [{"role": "user", "content": "vault?"}]},
    )
    assert chat.status_code == 421
    for host in (
        f"localhost:{server.port}",
        "127.0.0.1",
        f"[::1]:{server.port}",
        "LOCALHOST",
        "expert.internal",
    ):
        r = httpx.get(server.url + "/v1/me", headers={"Host": host})
        assert r.status_code == 200 and r.json()["admin"] is True, (host, r.text)


def test_host_is_free_once_keys_exist(keyed: dict[str, Any]) -> None:
    """With keys a rebinding page has no key to send: any Host is served to a valid key."""
    r = httpx.get(
        keyed["server"].url + "/v1/me",
        headers={**auth(keyed["keys"]["reader"]), "Host": "expert.example.com"},
    )
    assert r.status_code == 200 and r.json()["name"] == "reader"


# -- 5. errors -----------------------------------------------------------------------------------


def _metric(ctx: dict[str, Any], route: str, method: str, status: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(ctx["server"].url + "/metrics", headers=auth(ctx["keys"]["admin"])).text
    want = {"route": route, "method": method, "status": str(status)}
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return sum(s.value for s in samples if s.name == "ie_requests_total" and s.labels == want)


def test_client_errors_are_4xx_everywhere(keyed: dict[str, Any]) -> None:
    url, reader = keyed["server"].url, auth(keyed["keys"]["reader"])
    long_q = "Why? " * 1000  # 5,000 characters: over answer.max_question_chars
    for stream in (False, True):
        body = {"model": "kestrel", "messages": [{"role": "user", "content": long_q}], "stream": stream}
        r = httpx.post(url + "/v1/chat/completions", json=body, headers=reader, timeout=60)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert r.json()["error"]["code"] == "question_too_long"
    put = httpx.put(url + "/v1/chat/completions", json={}, headers=reader)
    assert put.status_code == 405 and put.json()["error"]["type"] == "invalid_request_error"
    time.sleep(0.3)  # the log line is written just after the response
    log = [json.loads(x) for x in (keyed["state"] / "requests.jsonl").read_text().splitlines()]
    chat = [x["status"] for x in log if x["route"] == "/v1/chat/completions"]
    assert chat.count(400) >= 2 and 405 in chat and 500 not in chat
    assert _metric(keyed, "/v1/chat/completions", "POST", 400) >= 2
    assert _metric(keyed, "/v1/chat/completions", "PUT", 405) >= 1
    assert _metric(keyed, "/v1/chat/completions", "POST", 500) == 0
    assert "Traceback" not in keyed["server"].log.read_text()


def test_client_error_inside_a_stream_is_an_error_event_of_a_client_type() -> None:
    """Once a stream has begun its status is sent: a client error after that is an error event
    of a client type, and its status is what the request log records. The model thread is stood
    in for by an object that raises what the real one hands over (no model runs here)."""
    import asyncio

    from industry_expert.errors import ExpertError
    from industry_expert.serve.chat import sse
    from industry_expert.serve.errors import api_error

    class Raising:  # stands in for a Generation whose model thread failed
        expert = SimpleNamespace(id="kestrel", kb="kestrel")

        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        async def events(self) -> Any:
            raise self.exc
            yield  # an async generator

        def stop(self) -> None:
            pass

    async def run(exc: Exception) -> tuple[dict[str, Any], list[int]]:
        seen: list[int] = []
        chunks = [c async for c in sse(Raising(exc), "id", 0, None, seen.append)]  # type: ignore[arg-type]
        return json.loads(chunks[-1].decode().removeprefix("data: ")), seen

    for exc in (api_error(400, "question_too_long", "too long"), ExpertError("no such filter field")):
        event, seen = asyncio.run(run(exc))
        assert event["error"]["type"] == "invalid_request_error" and seen == [400], event
    event, seen = asyncio.run(run(RuntimeError("boom")))
    assert event["error"]["type"] == "server_error" and seen == [500]


# -- 6. what is given away -----------------------------------------------------------------------


def test_readyz_names_nothing_without_a_key(keyed: dict[str, Any]) -> None:
    url = keyed["server"].url + "/readyz"
    anon = httpx.get(url)
    assert anon.status_code == 200 and anon.json() == {"ready": True}
    assert "kestrel" not in anon.text and "other" not in anon.text
    assert httpx.get(url, headers=auth(keyed["keys"]["revoked"])).json() == {"ready": True}
    reader = httpx.get(url, headers=auth(keyed["keys"]["reader"])).json()
    assert reader["kbs"] == ["kestrel"] and reader["models"]
    assert httpx.get(url, headers=auth(keyed["keys"]["admin"])).json()["kbs"] == ["kestrel", "other"]


def _upload(ctx: dict[str, Any], kb: str, role: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    r = httpx.post(
        ctx["server"].url + f"/v1/kbs/{kb}/documents",
        headers=auth(ctx["keys"][role]),
        files=[("files", f) for f in files],
        timeout=60,
    )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def _wait(ctx: dict[str, Any], role: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = httpx.get(ctx["server"].url + f"/v1/jobs/{job_id}", headers=auth(ctx["keys"][role])).json()
        if j["state"] in FINAL:
            return j  # type: ignore[no-any-return]
        assert all(f["status"] in ("pending", "running", "ingested", "failed") for f in j["files"]), j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished")


def test_sources_and_names_show_no_server_path(keyed: dict[str, Any]) -> None:
    url, writer = keyed["server"].url, auth(keyed["keys"]["writer"])
    note = b"# Invoice\n\nInvoice number 4711 covers the impeller of pump KF-340.\n"
    job = _upload(keyed, "kestrel", "writer", [("invoice\u202egpj.md", note)])
    assert job["files"][0]["name"] == "invoicegpj.md"
    assert _wait(keyed, "writer", job["id"])["files"][0]["status"] == "ingested"
    docs = httpx.get(url + "/v1/kbs/kestrel/documents", headers=writer).json()["data"]
    assert sorted(d["source"] for d in docs) == [
        "glossary.md",
        "invoicegpj.md",
        "safety-policy.md",
        "service-desk-faq.txt",
    ]
    hits = httpx.post(url + "/v1/kbs/kestrel/search", json={"query": "invoice 4711 impeller"}, headers=writer)
    assert hits.json()["data"][0]["source"] == "invoicegpj.md"
    chat = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "kestrel", "messages": [{"role": "user", "content": WARRANTY}], "max_tokens": 24},
        headers=writer,
        timeout=120,
    ).json()
    assert chat["passages"] and all("/" not in p["source"] for p in chat["passages"])
    assert all("/" not in c["source"] for c in chat["citations"])
    for text in (json.dumps(docs), hits.text, json.dumps(chat)):
        assert str(keyed["root"]) not in text and "/uploads/" not in text and "\u202e" not in text


def test_a_file_is_running_until_it_is_committed(keyed: dict[str, Any]) -> None:
    """The pipeline commits files in embedding waves; a file read but not yet committed is
    ``running`` (never ``unchanged`` with 0 chunks, which is what a new file showed)."""
    files = [
        (f"wave-{i}.md", f"# Wave {i}\n\nWave note {i}: valve V{i} is torqued to {i}0 Nm.\n".encode())
        for i in range(12)
    ]
    job_id = _upload(keyed, "kestrel", "writer", files)["id"]
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        j = httpx.get(
            keyed["server"].url + f"/v1/jobs/{job_id}", headers=auth(keyed["keys"]["writer"])
        ).json()
        if j["state"] in FINAL:
            break
        seen |= {f["status"] for f in j["files"]}
        time.sleep(0.02)
    assert j["state"] == "done" and {f["status"] for f in j["files"]} == {"ingested"}, j
    assert seen <= {"pending", "running", "ingested"}, seen


def test_refused_and_cancelled_uploads_leave_no_file(keyed: dict[str, Any]) -> None:
    import hashlib

    from industry_expert.serve.jobs import owner_id
    from industry_expert.serve.sqlite_state import SQLiteState
    from industry_expert.serve.state import JobRecord

    uploads = keyed["state"] / "uploads"
    refused = _wait(keyed, "writer", _upload(keyed, "kestrel", "writer", [("empty.md", b"")])["id"])
    assert refused["files"][0]["status"] == "failed"
    assert not (uploads / "kestrel" / hashlib.sha256(b"").hexdigest()).exists()
    state = SQLiteState(keyed["state"])  # a job of this (live) process holds KB 'other''s writer
    blocker = JobRecord("job_blocker", "other", "test", [], state="running", owner=owner_id(os.getpid()))
    state.add_job(blocker)
    try:
        data = b"# Held\n\nThis upload waits behind another job and is cancelled.\n"
        queued = _upload(keyed, "other", "other", [("held.md", data)])
        stored = uploads / "other" / hashlib.sha256(data).hexdigest()
        assert stored.is_dir()
        r = httpx.delete(
            keyed["server"].url + f"/v1/jobs/{queued['id']}", headers=auth(keyed["keys"]["other"])
        )
        assert r.json()["state"] == "cancelled" and r.json()["files"][0]["status"] == "cancelled"
        assert not stored.exists()
    finally:
        blocker.state = "done"
        state.save_job(blocker)
        state.close()


def test_signed_link_dies_with_its_key_even_when_the_name_returns(keyed: dict[str, Any]) -> None:
    from industry_expert.serve.auth import create_key
    from industry_expert.serve.sqlite_state import SQLiteState

    url = keyed["server"].url
    state = SQLiteState(keyed["state"])
    try:
        token = create_key(state, "linker", {"kestrel": "read"})[0]
        docs = httpx.get(url + "/v1/kbs/kestrel/documents", headers=auth(token)).json()["data"]
        made = httpx.post(
            url + "/web/api/links", json={"kb": "kestrel", "doc_id": docs[0]["doc_id"]}, headers=auth(token)
        )
        link = url + made.json()["url"]
        payload = made.json()["url"].rsplit("/", 1)[1].partition(".")[0]
        assert b"linker" not in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert httpx.get(link).status_code == 200
        assert state.revoke_key("linker")
        assert httpx.get(link).status_code == 401
        create_key(state, "linker", {"kestrel": "read"})  # a new key, the same name
        assert httpx.get(link).status_code == 401
    finally:
        state.close()


# -- 3. settings ---------------------------------------------------------------------------------


def _cli(*args: str) -> Any:
    env = {**os.environ, "IE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "industry_expert", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_served_answers_use_the_whole_settings_tree(open_server: dict[str, Any]) -> None:
    from industry_expert.retrieve.hybrid import search

    kb, config = open_server["kbs"]["kestrel"], str(open_server["config"])
    want = _cli("ask", WARRANTY, "--kb", str(kb), "--config", config, "--json")
    assert want["settings"]["retrieve"]["rerank"] == "none" and want["settings"]["answer"]["k"] == 2
    served = httpx.post(
        open_server["server"].url + "/v1/chat/completions",
        json={"model": "kestrel", "messages": [{"role": "user", "content": WARRANTY}]},
        timeout=180,
    ).json()

    assert [(p["doc_id"], p["text"]) for p in served["passages"]] == [
        (p["doc_id"], p["text"]) for p in want["passages"]
    ]
    assert served["choices"][0]["message"]["content"] == want["answer"]
    assert [(c["n"], c["quote"]) for c in served["citations"]] == [
        (c["n"], c["quote"]) for c in want["citations"]
    ]
    before = search(WARRANTY, kb, k=2)  # what the served chat retrieved when it ignored `retrieve:`
    assert [(h.doc_id, h.chunk_id) for h in before] != [
        (p["doc_id"], p["chunk_id"]) for p in want["passages"]
    ]
    hits = httpx.post(
        open_server["server"].url + "/v1/kbs/kestrel/search", json={"query": "safety shoes class"}
    ).json()["data"]
    cli_hits = _cli("search", "safety shoes class", "--kb", str(kb), "--config", config, "--json")
    assert [(h["doc_id"], h["chunk_id"]) for h in hits] == [(h["doc_id"], h["chunk_id"]) for h in cli_hits]


# -- 6. stopping ---------------------------------------------------------------------------------


def _stream(url: str, out: list[str]) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}],
        "max_tokens": 1000,
        "stream": True,
    }
    try:
        with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as r:
            out.append(str(r.status_code))
            out.extend(line for line in r.iter_lines() if line)
    except httpx.HTTPError as exc:
        out.append(f"transport error: {exc!r}")


def test_sigterm_ends_streams_with_an_error_event_and_exits_0(open_server: dict[str, Any]) -> None:
    """Two long streams (one generating, one queued behind it), then SIGTERM with a 2 s grace:
    a stream still running at the grace limit ends with an error event (503 in the request log),
    never with a silent cut, and the server exits 0. (The model may end a story early, by its end
    token or the loop guard, and finish within the grace: such a stream ends with [DONE].)"""
    server = open_server["server"]
    outs: list[list[str]] = [[], []]
    threads = [threading.Thread(target=_stream, args=(server.url, out)) for out in outs]
    for t in threads:
        t.start()
        time.sleep(0.5)
    deadline = time.monotonic() + 60
    while not any(len(o) > 2 for o in outs) and time.monotonic() < deadline:
        time.sleep(0.1)  # the first one is generating
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0, server.log.read_text()[-2000:]
    for t in threads:
        t.join(30)
    assert all(out[0] == "200" for out in outs), [o[:1] for o in outs]
    cut = [out for out in outs if out[-1] != "data: [DONE]"]
    assert cut, "no stream was still running at the grace limit"
    for out in cut:
        last = json.loads(out[-1].removeprefix("data: "))
        assert last["error"]["code"] == "shutting_down" and last["error"]["type"] == "server_error"
    log = [json.loads(x) for x in (open_server["state"] / "requests.jsonl").read_text().splitlines()]
    statuses = [x["status"] for x in log if x["route"] == "/v1/chat/completions"][-2:]
    assert sorted(statuses) == sorted([503] * len(cut) + [200] * (2 - len(cut))), statuses
