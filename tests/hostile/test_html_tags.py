"""HTML made of stray close tags or unclosed tags: refused by the depth budget in one line, or
ingested, in seconds, never run into the 60-second time limit; the good file beside them is
searchable. Through the real CLI (and the depth check alone, for the fast tier)."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from hostile import corpus
from industry_expert.errors import LoadError
from industry_expert.ingest.budgets import check_markup_depth

STRAY_SPANS = (
    "<html><body>" + "<span>seal </x>" * 20_000 + "<p>The heron valve closes at 6 bar.</p></body></html>"
)
"""~300 KB. The parser ignores ``</x>`` and nests 20,000 spans; the depth check counted each
``</x>`` as a close and let the page through, and walking it took longer than the 60 s limit."""
STRAYS_ONLY = "<html><body><p>The bittern gasket is rated 9 bar.</p>" + "</x>" * 75_000 + "</body></html>"
UNCLOSED_P = "<html><body>" + "<p>egret plover " * 20_000 + "</body></html>"
"""~320 KB of paragraphs never closed: html.parser nests them 20,000 deep; valid HTML closes each
at the next ``<p>``, so they are not counted, and the loader is linear in their nesting."""


def test_stray_close_tags_do_not_hide_nesting_from_the_depth_check() -> None:
    with pytest.raises(LoadError, match=r"markup nested deeper than 256 levels .*budget ingest.max_depth"):
        check_markup_depth(STRAY_SPANS, 256)
    with pytest.raises(LoadError, match="nested deeper than 256"):  # a close of another name closes nothing
        check_markup_depth("<div><b>x</i>" * 300, 256)
    check_markup_depth(STRAYS_ONLY, 256)  # nothing nests: accepted
    check_markup_depth(UNCLOSED_P, 256)
    check_markup_depth("<div><span>x</div>" * 1_000, 256)  # </div> closes the span opened inside it
    check_markup_depth("<div>" * 256 + "</div>" * 256, 256)  # at the limit


@pytest.mark.slow
def test_pages_of_stray_or_unclosed_tags_end_quickly_and_good_files_stay_searchable(
    tmp_path: Path, expert, tiny_model: Path
) -> None:  # type: ignore[no-untyped-def]
    from industry_expert import search

    data = tmp_path / "data"
    data.mkdir()
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    for name, page in (
        ("stray.html", STRAY_SPANS),
        ("strays.html", STRAYS_ONLY),
        ("unclosed.html", UNCLOSED_P),
    ):
        (data / name).write_text(page, encoding="utf-8")
    assert (data / "stray.html").stat().st_size > 250_000
    # the default budgets (max_seconds_per_file 60): the time limit must not be what ends a file
    args = ("ingest", "data", "--kb", "kb", "--embedder", f"st:{tiny_model}", "--json", "--no-progress")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = expert(*args, cwd=tmp_path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert run.rc == 1 and "Traceback" not in run.stderr, run.stderr  # one file failed, the run ended
    report = json.loads(run.stdout)
    files = {Path(f["source"]).name: f for f in report["files"]}
    stray = files["stray.html"]
    assert stray["status"] == "failed" and "\n" not in stray["reason"], stray
    assert "markup nested deeper than 256 levels" in stray["reason"] and "ingest.max_depth" in stray["reason"]
    for name in ("good.md", "strays.html", "unclosed.html"):
        assert files[name]["status"] == "ingested" and files[name]["chunks"] >= 1, files[name]
    # a guard, not a benchmark: CPU seconds of the whole run (the wall clock of a busy machine
    # says little); the stray page alone once spent the 60 s limit
    assert cpu_s < 30, f"{cpu_s:.1f} CPU s"
    for query, source in (
        ("Zephyr warranty", "good.md"),
        ("bittern gasket", "strays.html"),
        ("egret plover", "unclosed.html"),
    ):
        hits = search(query, tmp_path / "kb", k=3, mode="bm25")
        assert hits and hits[0].source.endswith(source), (query, hits[:1])
