"""A damaged KB says so in one line with the way out; destructive commands ask or refuse; --out
never overwrites files the tool did not write. In-process CLI (click's runner) for speed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from industry_expert.cli.main import main
from industry_expert.errors import KBError
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs


def _one_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _cli(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=stdin)


def _count(kb: Path) -> int:
    with KnowledgeBase.open(kb) as opened:
        return len(opened.store.documents())


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_lost_database_beside_a_surviving_index(kb: Path, damage: str) -> None:
    index = next(kb.glob("ann-*.faiss"))
    (kb / "kb.sqlite").unlink()
    if damage == "empty":
        (kb / "kb.sqlite").write_bytes(b"")
    line = _one_error(_cli("search", "pump", "--kb", str(kb), "--mode", "bm25"))
    assert f"database is {damage}" in line and "restore kb.sqlite" in line and "new --kb" in line
    assert index.exists() and index.stat().st_size > 0  # the survivor is not replaced by an empty index


def test_manifest_disagreeing_with_stored_vectors(kb: Path) -> None:
    manifest = json.loads((kb / "manifest.json").read_text())
    manifest["embedder"]["dim"] = 768
    (kb / "manifest.json").write_text(json.dumps(manifest))
    line = _one_error(_cli("search", "pump", "--kb", str(kb), "--mode", "bm25"))
    assert (
        "manifest.json says 768-d" in line
        and "holds 32-d" in line
        and "restore the original manifest" in line
    )


def test_deleted_manifest_and_another_embedder_cannot_mix_sizes(kb: Path, settings) -> None:  # type: ignore[no-untyped-def]
    (kb / "manifest.json").unlink()
    other = settings.merged({"embedder": "minilm"})  # the bundled 384-d model
    data = kb.parent / "data"
    data.mkdir()
    (data / "x.md").write_text("# x\n\nThe x is a part.\n", encoding="utf-8")
    with pytest.raises(KBError, match="says 384-d vectors but kb.sqlite holds 32-d"):
        ingest([str(data)], kb, other)
    con = sqlite3.connect(kb / "kb.sqlite")
    sizes = con.execute("SELECT DISTINCT length(vec) FROM chunks").fetchall()
    con.close()
    assert sizes == [(32 * 4,)]  # nothing of the other size was written


def test_a_dimension_change_mid_run_writes_nothing(kb: Path) -> None:
    """An embedder whose output size changes (an endpoint switching models) cannot mix sizes."""
    with KnowledgeBase.open(kb) as opened:
        doc = opened.store.documents()[0]
        chunks = [type("C", (), {"ordinal": 0, "text": "x", "section": "", "page": None, "metadata": {}})()]
        with pytest.raises(KBError, match="returned 16-d vectors but this KB holds 32-d"):
            opened.store.upsert(doc, chunks, np.ones((1, 16), np.float32), np.ones(16, np.float32))  # type: ignore[arg-type]
    assert _count(kb) == 3
    result = _cli("search", "valve", "--kb", str(kb), "--mode", "bm25", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["source"].endswith("valve.md")


def test_kb_remove_refuses_empty_and_everything_and_asks(kb: Path) -> None:
    assert "needs a source" in _one_error(_cli("kb", "remove", "", "--kb", str(kb), "--yes"))
    root = "/"
    assert "matches every document" in _one_error(_cli("kb", "remove", root, "--kb", str(kb), "--yes"))
    assert "pass --yes" in _one_error(_cli("kb", "remove", root, "--kb", str(kb)))  # no terminal to ask
    folder = str(Path(_sources(kb)[1]).parent)
    dry = _cli("kb", "remove", folder, "--kb", str(kb), "--dry-run")
    assert dry.exit_code == 0 and "would remove 2 document(s)" in dry.stdout and _count(kb) == 3
    done = _cli("kb", "remove", folder, "--kb", str(kb), "--yes", "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["removed_documents"] == 2 and _count(kb) == 1
    assert _cli("kb", "remove", root, "--kb", str(kb), "--yes", "--all").exit_code == 0 and _count(kb) == 0
    advice = _cli("advise", "--kb", str(kb), "--json")  # an empty KB measures nothing: "unknown", not "no"
    assert advice.exit_code == 0, advice.output
    findings = {f["question"][:20]: f for f in json.loads(advice.stdout)["findings"]}
    for start in ("Do answers need exte", "Is precise, stable i"):
        assert findings[start]["answer"] is None and findings[start]["source"] == "unknown", findings[start]


def _sources(kb: Path) -> list[str]:
    with KnowledgeBase.open(kb) as opened:
        return sorted(d.source for d in opened.store.documents())


def test_out_folders_the_tool_did_not_write_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("mine")
    (out / "tokenizer.json").write_text("{}")
    data = tmp_path / "train.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A."}]}\n'
    )
    for args in (
        ["finetune", str(data), "--out", str(out)],
        ["finetune", "merge", str(tmp_path), "--out", str(out)],
        ["data", "split", str(data), "--out", str(out)],
        ["eval", "run", str(data), "--out", str(out)],
    ):
        line = _one_error(_cli(*args))
        assert "not empty (README.md, tokenizer.json)" in line and "--overwrite" in line, args
    assert (out / "README.md").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "tokenizer.json",
    ]
    notes = tmp_path / "notes.md"
    notes.write_text("my notes")
    for args in (["data", "from-kb"], ["eval", "generate"]):
        line = _one_error(_cli(*args, "--kb", str(tmp_path), "--out", str(notes)))
        assert "not JSON Lines written by this tool" in line and notes.read_text() == "my notes"
    split = _cli("data", "split", str(data), "--out", str(tmp_path / "split"))
    assert split.exit_code == 0, split.output
    again = _cli("data", "split", str(data), "--out", str(tmp_path / "split"))  # its own artifact: fine
    assert again.exit_code == 0, again.output
