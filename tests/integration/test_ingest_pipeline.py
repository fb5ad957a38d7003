"""The ingest pipeline with the real bundled embedder and the real on-disk store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from industry_expert.config import Settings
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.hybrid import search

pytestmark = pytest.mark.slow
EXPERT = [sys.executable, "-m", "industry_expert"]


def _corpus(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i}.md").write_text(
            f"# Procedure {i}\n\n## Step A\n\nTighten bolt B{i} to {10 + i} Nm with the Kestrel wrench.\n\n"
            f"## Step B\n\nFlush line L{i} for {i + 2} minutes.\n",
            encoding="utf-8",
        )
    (root / "parts.csv").write_text("part,price_eur\nKP-1,10\nKP-2,20\n", encoding="utf-8")
    con = sqlite3.connect(root / "crm.db")
    con.executescript(
        "CREATE TABLE sites(site TEXT, model TEXT); INSERT INTO sites VALUES ('Graz','KF-340');"
    )
    con.commit()
    con.close()
    return root


def _chunk_rows(kb: Path) -> list[tuple]:
    con = sqlite3.connect(kb / "kb.sqlite")
    rows = con.execute("SELECT doc_id, ordinal, text FROM chunks ORDER BY doc_id, ordinal").fetchall()
    con.close()
    return rows


def test_incremental_idempotent_and_removals(tmp_path: Path) -> None:
    data = _corpus(tmp_path / "data")
    kb = tmp_path / "kb"
    first = ingest([str(data)], kb)
    assert first.ok and first.count("ingested") == 5 and first.chunks_added > 0
    ids = {d.source: d.doc_id for d in KnowledgeBase.open(kb).store.documents()}

    again = ingest([str(data)], kb)
    assert again.count("unchanged") == 5 and again.chunks_added == 0 and again.chunks_removed == 0

    (data / "doc1.md").write_text("# Procedure 1\n\nNew torque: 99 Nm.\n", encoding="utf-8")
    (data / "parts.csv").unlink()
    con = sqlite3.connect(data / "crm.db")
    con.executescript("CREATE TABLE techs(name TEXT); INSERT INTO techs VALUES ('Vera Hollig');")
    con.commit()
    con.close()
    third = ingest([str(data)], kb)
    status = {Path(f.source).name: f.status for f in third.files}
    assert status == {
        "doc0.md": "unchanged",
        "doc1.md": "ingested",
        "doc2.md": "unchanged",
        "crm.db": "ingested",
        "parts.csv": "removed",
    }
    with KnowledgeBase.open(kb) as opened:
        docs = {d.source: d.doc_id for d in opened.store.documents()}
        assert docs[str(data / "doc1.md")] == ids[str(data / "doc1.md")]  # stable ids
        assert str(data / "parts.csv") not in docs
        assert sum(1 for d in opened.store.documents() if d.type == "sqlite") == 2
    hits = search("What is the new torque for procedure 1?", kb, k=1)
    assert "99 Nm" in hits[0].text
    assert not any("Tighten bolt B1" in r[2] for r in _chunk_rows(kb))
    assert search("Vera Hollig", kb, k=1, mode="bm25")[0].metadata.get("rows") == "1-1"


def test_single_table_and_query(tmp_path: Path) -> None:
    data = _corpus(tmp_path / "data", n=0)
    kb = tmp_path / "kb"
    r = ingest([f"sqlite:///{data / 'crm.db'}"], kb, query="SELECT site FROM sites")
    assert r.ok and r.count("ingested") == 1
    assert search("Graz", kb, k=1)[0].text == "site: Graz"


def _bad_folder(root: Path) -> Path:
    from pypdf import PdfWriter

    root.mkdir()
    (root / "good.md").write_text("# Good\n\nThe Blue Flush takes 25 minutes.\n", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01\x02" * 50)
    (root / "latin1.md").write_bytes("Pumpe f\u00fcr Wasser".encode("latin-1"))
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    with open(root / "encrypted.pdf", "wb") as fh:
        writer.write(fh)
    (root / "huge.txt").write_text("x " * 700_000, encoding="utf-8")
    (root / "rows.csv").write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    (root / "lines.jsonl").write_text('{"a": 1}\n{"a": 2\n', encoding="utf-8")
    (root / "broken.json").write_text('{"a": [1, 2}', encoding="utf-8")
    os.symlink(root / "does-not-exist.md", root / "dangling.md")
    (root / "photo.png").write_bytes(b"\x89PNG")
    return root


def test_bad_inputs_are_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    folder = _bad_folder(tmp_path / "bad")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("ingest:\n  max_file_mb: 1\n", encoding="utf-8")
    proc = subprocess.run(
        [*EXPERT, "ingest", str(folder), "--kb", str(tmp_path / "kb"), "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    errors = {Path(e["source"]).name: e["reason"] for e in report["errors"]}
    expected = {
        "empty.txt": "empty file",
        "binary.txt": "binary content",
        "latin1.md": "not valid UTF-8",
        "corrupt.pdf": "PDF",
        "encrypted.pdf": "encrypted",
        "huge.txt": "over the 1 MB limit",
        "rows.csv": "line 3 has 3 fields",
        "lines.jsonl": "line 2",
        "broken.json": "line 1 column",
        "dangling.md": "cannot read",
    }
    assert set(errors) == set(expected)
    for name, fragment in expected.items():
        assert fragment in errors[name], (name, errors[name])
    assert report["ingested"] == 1 and report["skipped"] == 1
    hits = search("how long does the blue flush take", tmp_path / "kb", k=1)
    assert hits[0].source.endswith("good.md")


def test_sigkill_mid_ingest_then_resume(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(40):
        body = "\n\n".join(
            f"Paragraph {j} of note {i}: valve V{i}-{j} opens at {i + j} bar." for j in range(6)
        )
        (data / f"note{i:02d}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("ingest:\n  embed_wave_chunks: 2\n", encoding="utf-8")
    kb = tmp_path / "kb"
    proc = subprocess.Popen(
        [*EXPERT, "ingest", str(data), "--kb", str(kb), "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    committed = 0
    while time.monotonic() < deadline and committed < 5:
        time.sleep(0.2)
        try:
            con = sqlite3.connect(f"file:{kb / 'kb.sqlite'}?mode=ro", uri=True, timeout=1)
            committed = con.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with KnowledgeBase.open(kb) as opened:  # opens, and searches what was committed
        n_docs = opened.store.stats()["documents"]
        assert 5 <= n_docs < 40
        done = {d.source for d in opened.store.documents()}
    hit = search("valve opens bar", kb, k=1)[0]
    assert hit.source in done
    resumed = ingest([str(data)], kb, Settings())
    assert resumed.ok and resumed.count("unchanged") == n_docs and resumed.count("ingested") == 40 - n_docs
    fresh = tmp_path / "fresh"
    ingest([str(data)], fresh)
    assert sorted(r[1:] for r in _chunk_rows(kb)) == sorted(r[1:] for r in _chunk_rows(fresh))
    rows = _chunk_rows(kb)
    assert len(rows) == len({(r[0], r[1]) for r in rows})  # no duplicated chunks
    hit = search("valve V39-5", kb, k=1, mode="dense")[0]
    assert hit.source.endswith("note39.md")


def test_kb_refuses_another_embedder(tmp_path: Path, tiny_st_model: Path) -> None:
    data = _corpus(tmp_path / "data", n=1)
    kb = tmp_path / "kb"
    ingest([str(data)], kb)
    settings = Settings(embedder=f"st:{tiny_st_model}")
    from industry_expert.errors import EmbedderMismatchError

    with pytest.raises(
        EmbedderMismatchError, match="built with embedder 'sentence-transformers/all-MiniLM-L6-v2'"
    ):
        ingest([str(data)], kb, settings, explicit={"embedder"})
    with pytest.raises(EmbedderMismatchError):
        KnowledgeBase.open(kb, embedder=f"st:{tiny_st_model}")
    proc = subprocess.run(
        [*EXPERT, "ingest", str(data), "--kb", str(kb), "--embedder", f"st:{tiny_st_model}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_sentence_transformers_directory_backend(tmp_path: Path, tiny_st_model: Path) -> None:
    data = _corpus(tmp_path / "data", n=2)
    kb = tmp_path / "kb"
    r = ingest([str(data)], kb, Settings(embedder=f"st:{tiny_st_model}"))
    assert r.ok
    with KnowledgeBase.open(kb) as opened:
        assert opened.manifest["embedder"]["dim"] == 32
        assert opened.manifest["embedder"]["id"].startswith("st:tiny-st#")
    assert search("bolt B1", kb, k=1, mode="dense")
