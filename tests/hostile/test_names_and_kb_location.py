"""Names that render alike are still distinct documents; a knowledge base is never written into
the folder being ingested."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostile import corpus
from hostile.conftest import PEAK_MB
from industry_expert.errors import KBError
from industry_expert.ingest.discover import safe_name
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs

NAMES = [b"a\xff.md", b"a\\xff.md", b"a\\\xff.md", b"a\\\\xff.md", b"plain.md", b"back\\slash.md"]


def test_shown_names_are_one_per_file_and_ordinary_names_unchanged() -> None:
    shown = [safe_name(os.fsdecode(n)) for n in NAMES]
    assert len(set(shown)) == len(NAMES)
    assert shown[0] == "a\\xff.md"  # as before: ids of files with undecodable bytes are kept
    assert safe_name("/data/Pumpen/Über.md") == "/data/Pumpen/Über.md"


def test_a_raw_byte_and_its_escape_are_two_documents(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    corpus.odd_name(data, b"a\xff.md", "spindle")
    corpus.odd_name(data, b"a\\xff.md", "flange")
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    report = ingest([str(data)], tmp_path / "kb", settings)
    assert report.ok and report.count("ingested") == 3, report.files
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        docs = kb.store.documents()
        assert len({d.doc_id for d in docs}) == 3
        titles = {d.title for d in docs}
    assert titles == {"spindle", "flange", "Zephyr pump"}
    again = ingest([str(data)], tmp_path / "kb", settings)
    assert again.count("unchanged") == 3 and again.count("removed") == 0


def test_kb_equal_to_the_ingested_folder_is_refused_in_one_line(tmp_path: Path, config: Path, expert) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    run = expert("--config", str(config), "ingest", "data", "--kb", "data", cwd=tmp_path)
    assert run.rc == 2, run.stderr
    line = run.error_line()
    assert "inside the folder being ingested ('data')" in line and "--kb" in line
    assert sorted(p.name for p in data.iterdir()) == ["good.md"]  # nothing written there
    assert run.peak_mb < PEAK_MB
    ok = expert("--config", str(config), "ingest", "data", "--kb", "kb", cwd=tmp_path)
    assert ok.rc == 0, ok.stderr
    found = expert("search", "Zephyr warranty", "--kb", "kb", "--mode", "bm25", cwd=tmp_path)
    assert found.rc == 0 and "good.md" in found.stdout


def test_kb_inside_an_ingested_folder_is_refused(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    (tmp_path / "link").symlink_to(data)
    for kb in (data / "sub" / "kb", tmp_path / "link" / "kb"):
        with pytest.raises(KBError, match="inside the folder being ingested"):
            ingest([str(tmp_path / "d*")], kb, settings)
        assert not kb.exists()
    assert ingest([str(data / "good.md")], data / "sub" / "kb", settings).ok  # a named file: fine
