"""Damage is one line with the way out: a full disk, random bytes in kb.sqlite, a KB whose database
and vector index are both gone; ``expert kb check`` finds what ``PRAGMA integrity_check`` misses
(full-text and vector indexes that disagree with the stored chunks) and ``--repair`` rebuilds them."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostile.conftest import write_doc
from industry_expert.cli.main import main
from industry_expert.kb import KnowledgeBase

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def _one_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "cannot rollback" not in result.stderr
    return lines[0]


def _top(kb: Path, query: str) -> str:
    result = _cli("search", query, "--kb", str(kb), "--mode", "bm25", "--json", "-k", "1")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    return Path(hits[0]["source"]).name if hits else ""


def test_random_bytes_in_kb_sqlite_are_one_line_for_search_ask_and_ingest(kb: Path, config: Path) -> None:
    db = kb / "kb.sqlite"
    data = bytearray(db.read_bytes())
    rnd = random.Random(7)
    for i in range(len(data) // 3, 2 * len(data) // 3):
        data[i] = rnd.randrange(256)
    db.write_bytes(bytes(data))
    runs = [
        _cli("search", "pump", "--kb", str(kb)),
        _cli("ask", "When is the pump serviced?", "--kb", str(kb)),
        _cli("--config", str(config), "ingest", str(_more_data(kb)), "--kb", str(kb)),
        _cli("kb", "check", "--kb", str(kb)),
    ]
    for result in runs:
        line = _one_error(result)
        assert f"{db}: the KB database is damaged (database disk image is malformed)" in line
        assert "expert kb check" in line and "restore kb.sqlite from a backup" in line


def _more_data(kb: Path) -> Path:
    data = kb.parent / "more"
    write_doc(data / "seal.md", "seal")
    return data


def test_a_kb_whose_database_and_index_are_gone_is_never_recreated_empty(kb: Path) -> None:
    (kb / "kb.sqlite").unlink()
    for index in kb.glob("ann-*.faiss"):
        index.unlink()
    line = _one_error(_cli("search", "pump", "--kb", str(kb)))
    assert "the KB database is missing" in line and "re-ingest into a new --kb folder" in line
    assert not (kb / "kb.sqlite").exists()


def test_a_healthy_kb_checks_ok(kb: Path) -> None:
    result = _cli("kb", "check", "--kb", str(kb))
    assert result.exit_code == 0 and result.stdout.startswith("ok: sqlite integrity"), result.output


def _drop_postings(kb: Path, word: str) -> None:
    """Damage only the full-text index: the chunk stays, BM25 no longer sees it (passes
    PRAGMA integrity_check)."""
    con = sqlite3.connect(kb / "kb.sqlite", isolation_level=None)
    cid, section, text = con.execute(
        "SELECT chunk_id, section, text FROM chunks WHERE text LIKE ?", (f"%{word}%",)
    ).fetchone()
    con.execute(
        "INSERT INTO chunks_fts(chunks_fts, rowid, section, text) VALUES('delete', ?, ?, ?)",
        (cid, section, text),
    )
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def test_fts_damage_is_found_and_repair_restores_the_ranking(kb: Path) -> None:
    assert _top(kb, "valve serviced") == "valve.md"
    _drop_postings(kb, "valve")
    assert _top(kb, "valve serviced") != "valve.md"  # rankings silently changed
    found = _cli("kb", "check", "--kb", str(kb))
    assert found.exit_code == 2
    problems = found.stderr.strip().splitlines()
    assert len(problems) == 1 and "full-text index chunks_fts does not match the stored text" in problems[0]
    assert f"expert kb check --kb {kb} --repair" in problems[0]
    repaired = _cli("kb", "check", "--kb", str(kb), "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.stdout)
    assert report["ok"] and report["repaired"] and report["problems"] == []
    assert _top(kb, "valve serviced") == "valve.md"


def test_corrupt_fts_pages_make_search_one_line_until_repaired(kb: Path) -> None:
    con = sqlite3.connect(kb / "kb.sqlite", isolation_level=None)
    con.execute("UPDATE chunks_fts_data SET block = randomblob(length(block)) WHERE id > 10")
    con.close()
    line = _one_error(_cli("search", "valve", "--kb", str(kb), "--mode", "bm25"))
    assert "the KB database is damaged" in line and "--repair" in line
    assert _cli("kb", "check", "--kb", str(kb)).exit_code == 2
    assert _cli("kb", "check", "--kb", str(kb), "--repair").exit_code == 0
    assert _top(kb, "valve serviced") == "valve.md"


def test_a_vector_index_missing_chunks_is_found_and_rebuilt(kb: Path) -> None:
    import faiss
    import numpy as np

    path = next(kb.glob("ann-*.faiss"))
    index = faiss.read_index(str(path))
    con = sqlite3.connect(kb / "kb.sqlite")
    (cid,) = con.execute("SELECT chunk_id FROM chunks WHERE text LIKE '%gauge%'").fetchone()
    con.close()
    index.remove_ids(np.array([cid], dtype=np.int64))
    faiss.write_index(index, str(path))
    assert cid not in _dense_ids(kb, cid)  # dense search cannot find it, even by its own vector
    found = _cli("kb", "check", "--kb", str(kb))
    assert found.exit_code == 2 and "lacks 1 of the 3 stored chunks" in found.stderr, found.output
    assert _cli("kb", "check", "--kb", str(kb), "--repair").exit_code == 0
    assert _dense_ids(kb, cid)[0] == cid


def _dense_ids(kb: Path, cid: int) -> list[int]:
    """The dense ranking for the stored vector of chunk ``cid`` (it is its own best match)."""
    with KnowledgeBase.open(kb) as opened:
        return [i for i, _ in opened.store.dense(opened.store.vectors([cid])[0], 3)]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB filesystem (tmpfs): a full disk is ENOSPC, as in real life. Needs root."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small filesystem here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_one_line_and_the_kb_stays_searchable(
    small_disk: Path, tmp_path: Path, config: Path
) -> None:
    data = tmp_path / "data"
    for subject in ("pump", "valve"):
        write_doc(data / f"{subject}.md", subject)
    kb = small_disk / "kb"
    assert _cli("--config", str(config), "ingest", str(data), "--kb", str(kb)).exit_code == 0
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 32 * 1024))  # all but 32 KB
    write_doc(
        data / "rotor.md",
        "rotor",
        "".join(f"\n## Part {i}\n\nThe rotor part {i} is a Kestrel seal ring.\n" for i in range(2000)),
    )
    line = _one_error(_cli("--config", str(config), "ingest", str(data), "--kb", str(kb)))
    assert "the disk is full (database or disk is full)" in line and "free some space" in line
    filler.unlink()
    assert _top(kb, "valve serviced") == "valve.md"  # what was committed before is intact
    again = _cli("--config", str(config), "ingest", str(data), "--kb", str(kb))
    assert again.exit_code == 0, again.output
    assert _top(kb, "rotor part 1234 Kestrel") == "rotor.md"
