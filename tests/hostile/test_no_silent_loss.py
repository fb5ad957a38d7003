"""No text is lost silently: an HTML page keeps every article and its loose text; one SQLite table
that cannot be read is skipped with a warning while the others are ingested; names and text from
documents reach the terminal with control characters escaped. Through the real CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hostile import corpus

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs


def _data(folder: Path) -> Path:
    folder.mkdir()
    (folder / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    (folder / "page.html").write_text(
        "<html><body><nav>Menu</nav><article><h1>First</h1><p>Alpha.</p></article><article><h2>Second</h2>"
        "The second article holds the quillwort gasket torque of 17 Nm.<section>Loose section text names "
        "the marsh valve.</section><details><summary>More</summary>Details text names the bittern seal."
        "</details></article></body></html>",
        encoding="utf-8",
    )
    con = sqlite3.connect(folder / "plant.db")
    con.execute("CREATE TABLE pumps (model TEXT, photo BLOB)")
    con.execute("INSERT INTO pumps VALUES ('heron pump KF-9', ?)", (b"\x00\xff" * 50_000,))
    con.execute("CREATE VIRTUAL TABLE notes USING fts5(body)")
    con.execute("INSERT INTO notes VALUES ('grease the egret bearing every 500 hours')")
    con.execute("PRAGMA writable_schema=ON")
    con.execute(
        "INSERT INTO sqlite_master VALUES ('table', 'alien', 'alien', 0, 'CREATE VIRTUAL TABLE alien USING nosuchmod(a)')"
    )
    con.commit()
    con.close()
    return folder


def _top(query: str, kb: Path):  # type: ignore[no-untyped-def]
    from industry_expert import search

    hits = search(query, kb, k=3, mode="bm25")
    assert hits, query
    return hits[0]


def test_html_and_sqlite_text_is_kept_and_a_bad_table_is_a_warning(
    tmp_path: Path, expert, tiny_model: Path
) -> None:  # type: ignore[no-untyped-def]
    data = _data(tmp_path / "data")
    # the default time budgets: the suite's 4-second one is for its slow files, not these
    args = ("ingest", str(data), "--kb", str(tmp_path / "kb"), "--embedder", f"st:{tiny_model}")
    run = expert(*args, cwd=tmp_path)
    assert run.rc == 0 and "Traceback" not in run.stderr, run.stdout + run.stderr
    warnings = [ln for ln in run.stdout.splitlines() if ln.startswith("warning")]
    assert len(warnings) == 1 and "plant.db" in warnings[0] and "table 'alien'" in warnings[0], run.stdout
    kb = tmp_path / "kb"
    for query, source, text in (
        ("quillwort gasket", "page.html", "17 Nm"),  # the second article's loose text
        ("marsh valve", "page.html", "marsh valve"),  # loose text in a section
        ("bittern seal", "page.html", "bittern seal"),  # text in details
        ("egret bearing", "plant.db", "500 hours"),  # an FTS5 table, read through its module
        ("heron pump", "plant.db", "[binary 100000 bytes]"),  # a BLOB as its size, not its bytes
        ("Zephyr warranty", "good.md", "24 months"),
    ):
        top = _top(query, kb)
        assert top.source.endswith(source) and text in top.text, (query, top)
