"""Scope and expiry parsing, and the ``expert keys`` / ``expert serve`` commands' checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.errors import ConfigError
from industry_expert.serve.auth import (
    Principal,
    parse_expires,
    parse_scopes,
)


def test_scope_and_expiry_parsing() -> None:
    assert parse_scopes(["kestrel:read", "manuals:write", "kestrel:write"]) == {
        "kestrel": "write",
        "manuals": "write",
    }
    assert parse_scopes(["a:b:write"]) == {"a:b": "write"}
    for bad in ("kestrel", "kestrel:admin", ":read"):
        with pytest.raises(ConfigError):
            parse_scopes([bad])
    assert parse_expires("90d", now=0) == 90 * 86400 and parse_expires(None) is None
    with pytest.raises(ConfigError, match="90d"):
        parse_expires("soon")
    admin = Principal("root", admin=True)
    assert admin.can("anything", "write")


def test_keys_cli_and_serve_refuses_open_public_bind(tmp_path: Path, serve_kbs: dict[str, Path]) -> None:
    from industry_expert.cli.main import main

    r = CliRunner()
    sd = str(tmp_path / "state")
    created = r.invoke(
        main, ["keys", "create", "ci", "--kb", "kestrel:read", "--expires", "30d", "--state-dir", sd]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("ie_")
    listed = r.invoke(main, ["keys", "list", "--state-dir", sd])
    assert "ci" in listed.output and "active" in listed.output and token not in listed.output
    assert r.invoke(main, ["keys", "revoke", "ci", "--state-dir", sd]).exit_code == 0
    assert "revoked" in r.invoke(main, ["keys", "list", "--state-dir", sd]).output
    bad = r.invoke(main, ["keys", "create", "x", "--kb", "kestrel:own", "--state-dir", sd])
    assert bad.exit_code != 0 and "KB:read or KB:write" in bad.output
    empty = str(tmp_path / "empty-state")
    refused = r.invoke(
        main, ["serve", "--kb", f"k={serve_kbs['kestrel']}", "--host", "0.0.0.0", "--state-dir", empty]
    )
    assert refused.exit_code != 0 and "refusing to bind 0.0.0.0 with no API keys" in refused.output
    missing = r.invoke(main, ["serve", "--kb", f"k={tmp_path}", "--state-dir", empty])
    assert missing.exit_code != 0 and "is not a knowledge base" in missing.output


def test_several_workers_are_refused_over_an_embedded_store(
    tmp_path: Path, serve_kbs: dict[str, Path]
) -> None:
    """Each worker would search its own in-memory faiss index: `--workers 2` over a sqlite-faiss KB
    stops before binding, with one line naming the KB and the way out."""
    from industry_expert.cli.main import main

    kb = serve_kbs["kestrel"]
    args = ["serve", "--kb", f"kestrel={kb}", "--state-dir", str(tmp_path / "s"), "--port", "0"]
    refused = CliRunner().invoke(main, [*args, "--workers", "2"])
    assert refused.exit_code != 0
    assert refused.output.strip() == (
        "error: serve.workers 2: knowledge base 'kestrel' uses the embedded store (sqlite-faiss), "
        "which one process at a time can serve; use --workers 1, or copy it to PostgreSQL "
        "('expert kb copy SRC DST --store postgresql://...') and serve the copy"
    )
    assert not (tmp_path / "s").exists()  # refused before anything was opened


def test_sources_are_shown_without_server_paths(tmp_path: Path) -> None:
    from industry_expert.serve.sources import PublicSources, shown, uploaded_name

    sha = "a" * 64
    assert uploaded_name(f"/srv/state/uploads/kestrel/{sha}/invoice.md") == "invoice.md"
    assert uploaded_name(f".expert-serve/uploads/kestrel/{sha}/n.md") == "n.md"
    assert uploaded_name("/srv/data/uploads/notes.md") is None  # a folder that happens to be named so
    assert shown("/srv/data/manuals/a.md", "/srv/data") == "manuals/a.md"
    assert shown("/elsewhere/b.md", "/srv/data") == "b.md"
    assert shown("../../etc/c.md", None) == "etc/c.md"
    stored = ["/srv/data/manuals/a.md", "/srv/data/faq.txt", f"/srv/state/uploads/k/{sha}/up.md"]
    public = PublicSources(tmp_path / "uploads" / "k", lambda: stored)
    assert [public(s) for s in stored] == ["manuals/a.md", "faq.txt", "up.md"]


def test_host_names_a_keyless_server_answers() -> None:
    from industry_expert.serve.guard import host_allowed

    for host in ("127.0.0.1:8000", "localhost", "LocalHost:1", "[::1]:80", "[::1]", "127.0.0.2"):
        assert host_allowed(host, [], "127.0.0.1"), host
    for host in ("attacker.example:8000", "attacker.example", "", None, "localhost.attacker.example"):
        assert not host_allowed(host, [], "127.0.0.1"), host
    assert host_allowed("expert.internal:8000", ["expert.internal"], "127.0.0.1")
    assert host_allowed("10.0.0.5:8000", [], "10.0.0.5") and not host_allowed("10.0.0.5", [], "0.0.0.0")


def test_model_ids_keep_catalogue_names_whole() -> None:
    from industry_expert.serve.runtime import model_name

    assert model_name("qwen2.5-0.5b") == "qwen2.5-0.5b"  # a path stem would cut it at ".5b"
    assert model_name(None) == "smollm2" and model_name("smollm2") == "smollm2"
    assert model_name("/models/Phi-3-mini-4k-instruct-q4.gguf") == "Phi-3-mini-4k-instruct-q4"
    assert model_name("openai:gpt-x@http://127.0.0.1:9/v1") == "gpt-x"


def test_search_requests_beyond_the_queue_get_503_with_retry_after() -> None:
    """serve.search_threads + serve.search_queue_size requests run or wait; the next is refused
    at once (before, search requests queued without bound)."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from industry_expert.serve.errors import APIError
    from industry_expert.serve.runtime import Runtime

    rt = SimpleNamespace(
        search_slots=threading.BoundedSemaphore(2),  # one thread + one waiting
        pool=ThreadPoolExecutor(max_workers=1),
        settings=SimpleNamespace(retry_after_s=7),
    )
    gate = threading.Event()

    async def main() -> None:
        running = asyncio.create_task(Runtime.run_search(rt, gate.wait))  # type: ignore[arg-type]
        waiting = asyncio.create_task(Runtime.run_search(rt, lambda: "second"))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        with pytest.raises(APIError) as refused:
            await Runtime.run_search(rt, lambda: "third")  # type: ignore[arg-type]
        assert refused.value.status == 503 and refused.value.code == "queue_full"
        assert refused.value.headers == {"Retry-After": "7"}
        gate.set()
        assert await running is True and await waiting == "second"
        assert await Runtime.run_search(rt, lambda: "after") == "after"  # type: ignore[arg-type]  # slots freed

    asyncio.run(main())
    rt.pool.shutdown()
