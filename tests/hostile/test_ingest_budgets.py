"""One ingest run over a folder of hostile files: each is refused with its budget's name or ingested
safely, the good files are ingested, the run ends, and memory stays bounded."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from hostile import corpus
from hostile.conftest import PEAK_MB

pytestmark = pytest.mark.slow  # the tiny real embedder and model-loading CLI runs

EXPECTED_FAILED = {
    "bomb.docx": "budget ingest.max_unpacked_mb",
    "bomb.xlsx": "budget ingest.max_unpacked_mb",
    "deep.html": "budget ingest.max_depth",
    "deep.json": "budget ingest.max_depth",
    "slow.html": "budget ingest.max_seconds_per_file",
    "shared.pdf": "budget ingest.max_seconds_per_file",  # 20 KB, pages share one big stream
    "pipe.md": "not a regular file",  # a named pipe: reading it would block forever
}
EXPECTED_INGESTED = {
    "good.md",
    "report[2024].md",  # glob characters: taken literally when the name exists
    "bad\\xff\\xfe.md",  # not UTF-8: ingested, shown with escapes
    "evil\x1b]0;pwned\x07.md",  # control characters in the name (valid UTF-8: kept, escaped on screen)
    "wide.csv",  # a 50,000-column row: split into column groups
    "img.md",  # a 2,000,000-character inline image and a 200,000-character "word"
    "terminal.md",  # escape sequences inside the text
}


@pytest.fixture(scope="module")
def hostile_run(hostile_root: Path, config: Path, expert):  # type: ignore[no-untyped-def]
    work = hostile_root / "budgets"
    data = work / "data"
    data.mkdir(parents=True)
    corpus.docx_bomb(data / "bomb.docx")
    corpus.xlsx_bomb(data / "bomb.xlsx")
    corpus.deep_html(data / "deep.html")
    corpus.deep_json(data / "deep.json")
    corpus.slow_html(data / "slow.html")
    corpus.shared_stream_pdf(data / "shared.pdf")
    os.mkfifo(data / "pipe.md")
    corpus.wide_csv(data / "wide.csv")
    corpus.base64_markdown(data / "img.md")
    corpus.odd_name(data, b"bad\xff\xfe.md", "spindle")
    corpus.odd_name(data, b"evil\x1b]0;pwned\x07.md", "gasket ring")
    (data / "report[2024].md").write_text(corpus.GOOD.replace("Zephyr", "Merlin"), encoding="utf-8")
    (data / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    (data / "terminal.md").write_text(
        "# Heron gauge\n\nThe Heron gauge \x1b[2J\x1b]0;owned\x07reads 4 bar \x9b31m at rest \x1b[8mhidden\x1b[0m.\n",
        encoding="utf-8",
    )
    run = expert("--config", str(config), "ingest", "data", "--kb", "kb", "--json", "--no-progress", cwd=work)
    return work, run


def _by_name(report: dict) -> dict[str, dict]:
    return {Path(f["source"]).name: f for f in report["files"]}


def test_each_hostile_file_is_refused_by_its_budget_or_ingested(hostile_run) -> None:  # type: ignore[no-untyped-def]
    work, run = hostile_run
    assert run.rc == 1, run.stderr  # some files failed; the run itself finished
    assert "Traceback" not in run.stderr
    files = _by_name(json.loads(run.stdout))
    for name, budget in EXPECTED_FAILED.items():
        assert files[name]["status"] == "failed" and budget in files[name]["reason"], files[name]
        assert "\n" not in files[name]["reason"]
    for name in EXPECTED_INGESTED:
        assert files[name]["status"] == "ingested" and files[name]["chunks"] >= 1, files.get(name)
    assert set(files) == set(EXPECTED_FAILED) | EXPECTED_INGESTED
    assert run.peak_mb < PEAK_MB, f"peak RSS {run.peak_mb:.0f} MB"


def test_no_giant_chunk_and_none_over_the_embedder_window(hostile_run, tiny_model: Path) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    work, _ = hostile_run
    emb = SentenceTransformerEmbedder(str(tiny_model))
    con = sqlite3.connect(work / "kb" / "kb.sqlite")
    rows = con.execute("SELECT text, section FROM chunks").fetchall()
    con.close()
    assert len(rows) > 100
    assert max(len(t) for t, _ in rows) <= 4000  # chunking.max_chars
    longest = max(emb.count_tokens(f"{s}\n{t}" if s else t) for t, s in rows)
    assert longest + 2 <= emb.max_tokens  # with [CLS] and [SEP]: never truncated
    texts = " ".join(t for t, _ in rows)
    assert "[embedded data]" in texts and "iVBORw0KGgo" not in texts


def test_odd_names_and_good_files_are_searchable(hostile_run, settings) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.retrieve.hybrid import search

    work, _ = hostile_run
    kb = work / "kb"
    assert search("spindle", kb, k=3, mode="bm25")[0].source == "data/bad\\xff\\xfe.md"
    assert search("gasket ring", kb, k=3, mode="bm25")[0].source == "data/evil\x1b]0;pwned\x07.md"
    assert search("Zephyr warranty", kb, k=3, mode="bm25")[0].source == "data/good.md"
    assert search("Merlin warranty", kb, k=3, mode="bm25")[0].source == "data/report[2024].md"


def test_search_output_escapes_terminal_control_sequences(hostile_run) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from industry_expert.cli.main import main

    work, _ = hostile_run
    for query in ("Heron gauge", "gasket ring"):
        result = CliRunner().invoke(
            main, ["search", query, "--kb", str(work / "kb"), "--mode", "bm25"], color=True
        )
        assert result.exit_code == 0, result.output
        assert "\x07" not in result.output and "\x9b" not in result.output
        assert "\x1b]" not in result.output and "\x1b[2J" not in result.output
        assert "\x1b[8m" not in result.output  # not even a style from a document (conceal)
    assert "\\x1b[2J" in result.output or "\\x1b]0;pwned" in result.output


def test_memory_budget_and_a_dying_parser_cost_only_their_file(tmp_path: Path) -> None:
    """The parse child's address space is capped (ingest.max_parse_mb): a file whose parse needs
    more fails alone, and the next file is parsed by a fresh child."""
    from industry_expert.errors import LoadError
    from industry_expert.ingest.budgets import Limits
    from industry_expert.ingest.worker import ParseWorker

    big = tmp_path / "records.json"
    big.write_text(json.dumps([{"id": i, "text": "seal check " * 20} for i in range(60_000)]))
    small = tmp_path / "ok.md"
    small.write_text(corpus.GOOD)
    good = small.read_bytes()
    with ParseWorker(Limits(max_parse_mb=64, max_seconds_per_file=60)) as worker:
        with pytest.raises(LoadError, match=r"budget ingest.max_parse_mb"):
            worker.parse(big, big.read_bytes())
        assert worker.parse(small, good)[0].title == "Zephyr pump"
        worker.proc.kill()  # type: ignore[union-attr]  # a parser crash (e.g. in C code)
        with pytest.raises(LoadError, match=r"parser (was killed|stopped unexpectedly)"):
            worker.parse(small, good)
        assert worker.parse(small, good)[0].title == "Zephyr pump"  # restarted


def test_lone_surrogates_in_content_do_not_stop_the_store(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.ingest.pipeline import ingest

    data = tmp_path / "data"
    data.mkdir()
    (data / "s.json").write_text('[{"title": "Kite \\ud800 valve", "body": "rated 9 bar"}]')
    (data / "t.md").write_text(corpus.GOOD)
    report = ingest([str(data)], tmp_path / "kb", settings)
    assert report.ok and report.count("ingested") == 2
