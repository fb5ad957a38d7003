"""Text that came from documents (answers quoting them, sources, sections, file names, reasons)
reaches the terminal with its control characters shown as escapes, in every command's output."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from industry_expert.cli.main import main
from industry_expert.cli.streaming import print_sources, show_stream
from industry_expert.generate.stream import Done, Sentence
from industry_expert.types import Answer, Citation, Hit

EVIL = "\x1b[2J\x1b]0;pwned\x07\x1b[8m"


def _answer(abstained: bool) -> Answer:
    hit = Hit(f"m{EVIL}.md", f"Sec{EVIL}", None, 1.0, f"text{EVIL}", "d", 1, "markdown", "T")
    cite = Citation(1, f"m{EVIL}.md", f"Sec{EVIL}", 3, f"quote{EVIL}")
    return Answer(
        "q", f"Answer{EVIL} [1]", [] if abstained else [cite], [hit], "", "m", {}, abstained=abstained
    )


def _raw_controls(text: str) -> bool:
    return any(c in text for c in ("\x1b", "\x07"))


def test_answer_sources_and_closest_passages_show_controls_as_escapes(capsys) -> None:  # type: ignore[no-untyped-def]
    answer = _answer(abstained=False)
    show_stream([Sentence(answer.answer), Done(answer)])
    out = capsys.readouterr().out
    assert not _raw_controls(out) and out.count("\\x1b[2J") == 4  # answer, source, section, quote
    print_sources(_answer(abstained=True))
    out = capsys.readouterr().out
    assert not _raw_controls(out.replace("\x1b[2m", "").replace("\x1b[0m", ""))  # only our own dim style
    assert "\\x1b]0;pwned" in out


def test_ingest_report_escapes_file_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / f"empty{EVIL}.md").write_text("")
    result = CliRunner().invoke(main, ["ingest", str(data), "--kb", str(tmp_path / "kb")])
    assert "failed" in result.output and "\\x1b[2J" in result.output
    assert not _raw_controls(result.output)
