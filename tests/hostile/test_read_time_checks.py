"""Files are read as they were checked: a file swapped for a link (or another file) between
listing and reading is reported and never read; folders are walked with handles, so a path longer
than PATH_MAX (4,096 bytes) is no limit, and an entry that cannot be read costs only itself."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostile import corpus
from industry_expert.ingest import discover as discover_module

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs

SECRET = "The vault code is PELICAN-7731."


def _kb_text(kb: Path) -> str:
    con = sqlite3.connect(kb / "kb.sqlite")
    try:
        return " ".join(t for (t,) in con.execute("SELECT text FROM chunks"))
    finally:
        con.close()


def _top_source(kb: Path, query: str) -> str:
    from industry_expert.retrieve.hybrid import search

    return search(query, kb, k=1, mode="bm25")[0].source


def _swap(target: Path, secret: Path, how: str) -> None:
    """What an attacker does while a slow file is parsed: ``ln -sfn SECRET t && mv -T t TARGET``
    (or the same with a hard link: another file under the checked name)."""
    tmp = target.with_name(".swap")
    if how == "symlink":
        tmp.symlink_to(secret)
    else:
        tmp.hardlink_to(secret)
    os.replace(tmp, target)


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_a_file_swapped_after_listing_is_reported_and_never_read(
    hostile_root: Path, config: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from industry_expert.cli.main import main

    work = hostile_root / f"race-{how}"
    data, outside = work / "data", work / "outside"
    data.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.md").write_text(f"# Vault\n\n{SECRET}\n", encoding="utf-8")
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    target = data / "b-target.md"
    target.write_text("# Tern pump\n\nThe Tern pump is serviced yearly.\n", encoding="utf-8")
    # the hook runs after every file was listed and checked, before any is read
    monkeypatch.setattr(discover_module, "after_listing", lambda _: _swap(target, outside / "secret.md", how))
    args = ["--config", str(config), "ingest", str(data), "--kb", str(work / "kb"), "--json", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output  # a partial failure: the run itself finished
    report = json.loads(result.stdout)
    errors = {Path(e["source"]).name: e["reason"] for e in report["errors"]}
    assert errors == {"b-target.md": "changed after it was listed (now a link or another file); not read"}
    assert report["ingested"] == 1
    assert "PELICAN" not in _kb_text(work / "kb")  # the secret never reached the KB
    assert _top_source(work / "kb", "Zephyr warranty") == str(data / "good.md")


def test_paths_longer_than_path_max_are_walked_and_read(hostile_root: Path, config: Path, expert) -> None:  # type: ignore[no-untyped-def]
    """20 nested folders of 250-byte names (a 5,000-byte path) beside a good file: everything is
    ingested. A link down there, which the OS cannot resolve by name, is one failed line."""
    work = hostile_root / "long-paths"
    data = work / "data"
    data.mkdir(parents=True)
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    deep, fd = corpus.deep_tree(data)
    try:
        corpus.write_at(fd, "deep.md", "# Osprey valve\n\nThe Osprey valve deep down is rated 16 bar.\n")
        assert len(os.fsencode(deep / "deep.md")) > 4096
        args = ["--config", str(config), "ingest", "data", "--kb", "kb", "--json", "--no-progress"]
        run = expert(*args, cwd=work)
        assert run.rc == 0, run.stderr
        assert "Traceback" not in run.stderr
        assert json.loads(run.stdout)["ingested"] == 2
        assert _top_source(work / "kb", "Osprey valve") == str(
            Path("data") / deep.relative_to(data) / "deep.md"
        )
        assert _top_source(work / "kb", "Zephyr warranty") == "data/good.md"

        os.symlink("deep.md", "again.md", dir_fd=fd)
        run = expert(*args, cwd=work)
    finally:
        os.close(fd)
    assert run.rc == 1, run.stderr  # a partial failure: one entry, the run goes on
    assert "Traceback" not in run.stderr
    report = json.loads(run.stdout)
    (error,) = report["errors"]
    assert (
        error["source"].endswith("/again.md")
        and error["reason"] == "cannot resolve this link: File name too long"
    )
    assert report["unchanged"] == 2 and report["removed"] == 0
    assert _top_source(work / "kb", "Zephyr warranty") == "data/good.md"
