"""Links, duplicates, the tool's own folders inside a tree, unreadable folders, read-only KBs.

Permission cases run the real CLI without root's permission overrides when the tests run as root
(root reads and writes everything, so chmod alone would prove nothing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hostile.conftest import PEAK_MB
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs


def _sources(kb: Path) -> list[str]:
    with KnowledgeBase.open(kb) as opened:
        return sorted(d.source for d in opened.store.documents())


def _doc(path: Path, subject: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {subject}\n\nThe {subject} is checked every 12 months.\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tree(hostile_root: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """data/ with inside and outside links, a KB and an adapter folder inside it."""
    work = hostile_root / "paths"
    data, outside = work / "data", work / "outside"
    _doc(data / "a.md", "pump")
    _doc(data / "sub" / "b.md", "valve")
    _doc(outside / "secret.md", "payroll")
    _doc(outside / "more" / "c.md", "salary")
    (data / "link-to-a.md").symlink_to(data / "a.md")
    (data / "zz-hardlink.md").hardlink_to(data / "a.md")
    (data / "sub-again").symlink_to(data / "sub")
    (data / "secret.md").symlink_to(outside / "secret.md")
    (data / "more").symlink_to(outside / "more")
    ingest([str(_doc(work / "seed" / "x.md", "seed"))], data / "old-kb", settings)
    (data / "adapter").mkdir()
    (data / "adapter" / "expert_adapter.json").write_text('{"kind": "peft-adapter", "base": "x"}')
    (data / "adapter" / "README.md").write_text("# Adapter card\n\nTrained on pumps.\n")
    return work


def test_links_inside_followed_once_outside_reported(tree: Path, settings) -> None:  # type: ignore[no-untyped-def]
    kb = tree / "kb-links"
    data = tree / "data"
    report = ingest([str(data), str(data / "sub"), str(data / "link-to-a.md")], kb, settings)
    assert _sources(kb) == [str(data / "a.md"), str(data / "sub" / "b.md")]  # one document per file
    skipped = {Path(f.source).name: f.reason or "" for f in report.files if f.status == "skipped"}
    assert (
        "outside the folders given" in skipped["secret.md"] and "outside the folders given" in skipped["more"]
    )
    assert "knowledge base made by this tool" in skipped["old-kb"]
    assert "adapter made by this tool" in skipped["adapter"]
    assert "the same file as" in skipped["zz-hardlink.md"] and "a.md" in skipped["zz-hardlink.md"]
    assert report.ok and report.count("ingested") == 2


def test_link_roots_allow_a_folder_outside(tree: Path, settings) -> None:  # type: ignore[no-untyped-def]
    kb = tree / "kb-roots"
    allowed = settings.merged({"ingest": {"link_roots": [str(tree / "outside")]}})
    ingest([str(tree / "data")], kb, allowed)
    names = {Path(s).name for s in _sources(kb)}
    assert names == {"a.md", "b.md", "secret.md", "c.md"}


@pytest.fixture()
def small_kb(hostile_root: Path, settings, request) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    work = hostile_root / request.node.name
    data = work / "data"
    _doc(data / "open.md", "pump")
    _doc(data / "private" / "secret.md", "valve")
    report = ingest([str(data)], work / "kb", settings)
    assert report.count("ingested") == 2
    return work, data


def test_unreadable_folder_is_reported_and_its_documents_kept(small_kb, config: Path, expert) -> None:  # type: ignore[no-untyped-def]
    work, data = small_kb
    (data / "private").chmod(0o000)
    try:
        args = ["ingest", "data", "data/private/secret.md", "--kb", "kb", "--json"]
        run = expert("--config", str(config), *args, cwd=work, unprivileged=True)
    finally:
        (data / "private").chmod(0o755)
    assert run.rc == 1, run.stderr
    report = json.loads(run.stdout)
    errors = {e["source"]: e["reason"] for e in report["errors"]}
    assert "cannot read this folder: Permission denied" in errors["data/private"]
    assert "cannot read: Permission denied" in errors["data/private/secret.md"]  # named: reported too
    assert report["removed"] == 0 and report["unchanged"] == 1
    assert run.peak_mb < PEAK_MB
    assert [Path(s).name for s in _sources(work / "kb")] == ["open.md", "secret.md"]  # nothing lost


def test_read_only_kb_is_searchable_and_refuses_ingest_in_one_line(small_kb, config: Path, expert) -> None:  # type: ignore[no-untyped-def]
    work, _ = small_kb
    kb = work / "kb"
    before = sorted((p.name, p.stat().st_size) for p in kb.iterdir())
    subprocess.run(["chmod", "-R", "a-w", str(kb)], check=True)
    try:
        found = expert("search", "valve", "--kb", "kb", "--json", cwd=work, unprivileged=True)
        refused = expert("--config", str(config), "ingest", "data", "--kb", "kb", cwd=work, unprivileged=True)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(kb)], check=True)
    assert found.rc == 0, found.stderr
    assert json.loads(found.stdout)[0]["source"].endswith("secret.md")
    assert refused.rc == 2 and "cannot write to this knowledge base" in refused.error_line()
    assert found.peak_mb < PEAK_MB and refused.peak_mb < PEAK_MB
    assert sorted((p.name, p.stat().st_size) for p in kb.iterdir()) == before
