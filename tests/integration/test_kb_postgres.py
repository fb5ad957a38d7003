"""KBs on PostgreSQL end to end: created by `expert ingest --store URL` (recorded in the manifest
without the password), searched by later commands without the URL, and copied between stores both
ways by `expert kb copy` with the vectors carried over (not re-embedded), the rerank's kept token
vectors with them, and retrieval unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from industry_expert.cli.main import main
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.retrieve.rerank import passage_tokens

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
QUESTIONS = [
    "How tight should the impeller nut be on the KF-340?",
    "How long is the standard warranty on a Kestrel pump?",
    "Which seal kit fits the KF-220?",
    "What does error E-103 mean?",
]


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_into_postgres_records_the_store_without_password(
    pg_dsn: str, sample_data: Path, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("glossary.md", "kf-series-torque-card.md"):
        src = next(sample_data.rglob(name), None) or next(sample_data.rglob("*.md"))
        shutil.copy(src, docs / src.name)
    url = pg_dsn.replace("postgres:@", "postgres:hunter2@")
    report = json.loads(_run("ingest", str(docs), "--kb", str(tmp_path / "kb"), "--store", url, "--json"))
    assert report["chunks_added"] > 0 and report["failed"] == 0
    manifest = (tmp_path / "kb" / "manifest.json").read_text()
    store = json.loads(manifest)["store"]
    assert store["backend"] == "postgresql" and store["schema"].startswith("kb_kb_")
    assert "hunter2" not in manifest
    again = json.loads(_run("ingest", str(docs), "--kb", str(tmp_path / "kb"), "--json"))  # no URL needed
    assert again["chunks_added"] == 0 and again["unchanged"] == len(list(docs.iterdir()))
    hits = json.loads(_run("search", "impeller", "--kb", str(tmp_path / "kb"), "--json"))
    assert hits and all(h["source"].startswith(str(docs)) or "docs" in h["source"] for h in hits)
    stats = json.loads(_run("kb", "stats", "--kb", str(tmp_path / "kb"), "--json"))
    assert stats["store"] == "postgresql" and stats["chunks"] == report["chunks_added"]


def test_copy_both_ways_keeps_vectors_history_and_results(
    pg_dsn: str, sample_kb: Path, tmp_path: Path
) -> None:
    out = _run("kb", "copy", str(sample_kb), str(tmp_path / "pg"), "--store", pg_dsn)
    assert "verified" in out
    back = json.loads(_run("kb", "copy", str(tmp_path / "pg"), str(tmp_path / "back"), "--json"))
    assert back["src_store"] == "postgresql" and back["dst_store"] == "sqlite-faiss" and back["verified"]
    with (
        KnowledgeBase.open(sample_kb) as a,
        KnowledgeBase.open(tmp_path / "pg") as b,
        KnowledgeBase.open(tmp_path / "back") as c,
    ):
        assert b.store.name == "postgresql" and c.store.name == "sqlite-faiss"
        assert a.store.stats()["chunks"] == b.store.stats()["chunks"] == c.store.stats()["chunks"]
        assert [r["started"] for r in a.store.runs()] == [r["started"] for r in c.store.runs()]
        docs = {d.doc_id: d for d in a.store.documents()}
        assert {d.doc_id: (d.summary, d.metadata, d.content_hash) for d in c.store.documents()} == {
            k: (d.summary, d.metadata, d.content_hash) for k, d in docs.items()
        }
        np.testing.assert_array_equal(
            a.store.summary_vectors(list(docs)), c.store.summary_vectors(list(docs))
        )
        for q in QUESTIONS:
            vec = a.embed([q])[0]
            want = [(h.doc_id, h.text) for h in retrieve(a, q, k=5, query_vector=vec)]
            assert [(h.doc_id, h.text) for h in retrieve(b, q, k=5, query_vector=vec)] == want
            assert [(h.doc_id, h.text) for h in retrieve(c, q, k=5, query_vector=vec)] == want
        rows = a.token_store.stats()["rows"]  # the rerank's token vectors travel with the KB
        assert rows > 0 and b.token_store.stats()["rows"] == c.token_store.stats()["rows"] == rows
        assert back["token_vectors"] == rows
        for kb in (b, c):
            assert passage_tokens(kb, kb.store.chunk_ids()[:200])[1] == 0  # none encoded at query time
        b.store.drop()  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["kb", "copy", str(sample_kb), str(tmp_path / "back")])
    assert result.exit_code != 0 and "already exists" in result.output
