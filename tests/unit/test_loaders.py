"""Each loader on a small real file of its format (built here with the format's own library)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from industry_expert.errors import LoadError, UnsupportedFormatError
from industry_expert.ingest.formats import loader_for


def _load(path: Path):  # type: ignore[no-untyped-def]
    return loader_for(path)(path)


def kinds(blocks) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(b.kind, b.text) for b in blocks]


def test_markdown(tmp_path: Path) -> None:
    p = tmp_path / "guide.md"
    p.write_text(
        "---\nx: 1\n---\n# Guide\n\nIntro *text*.\n\n## Steps\n\n1. one\n2. two\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n",
        encoding="utf-8",
    )
    (doc,) = _load(p)
    assert doc.title == "Guide"
    assert kinds(doc.blocks)[:5] == [
        ("heading", "Guide"),
        ("paragraph", "Intro *text*."),
        ("heading", "Steps"),
        ("list_item", "one"),
        ("list_item", "two"),
    ]
    assert doc.blocks[-1].header == ["a", "b"] and doc.blocks[-1].rows == [["1", "2"]]


def test_html_drops_boilerplate(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    p.write_text(
        "<html><head><title>T</title><script>x()</script></head><body><nav>Home | About</nav>"
        "<main><h1>Warranty</h1><p>24 <b>months</b>.</p><ul><li>Seals</li></ul>"
        "<table><tr><th>Plan</th><th>Months</th></tr><tr><td>Plus</td><td>60</td></tr></table>"
        "</main><footer>(c) 2026</footer></body></html>",
        encoding="utf-8",
    )
    (doc,) = _load(p)
    assert doc.title == "Warranty"
    text = " ".join(b.text for b in doc.blocks)
    assert "Home" not in text and "(c)" not in text and "x()" not in text
    assert ("paragraph", "24 months .") in kinds(doc.blocks) or ("paragraph", "24 months.") in kinds(
        doc.blocks
    )
    assert ("list_item", "Seals") in kinds(doc.blocks)
    assert doc.blocks[-1].rows == [["Plus", "60"]]


def test_docx_headings_lists_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Seal Procedure", level=1)
    d.add_paragraph("Read first.")
    d.add_heading("Tools", level=2)
    d.add_paragraph("Torque wrench", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text, t.cell(1, 0).text, t.cell(1, 1).text = "Step", "Nm", "Nut", "45"
    p = tmp_path / "proc.docx"
    d.save(str(p))
    (doc,) = _load(p)
    assert doc.title == "Seal Procedure"
    assert kinds(doc.blocks)[:4] == [
        ("heading", "Seal Procedure"),
        ("paragraph", "Read first."),
        ("heading", "Tools"),
        ("list_item", "Torque wrench"),
    ]
    assert doc.blocks[1].level == 0 and doc.blocks[2].level == 2
    assert doc.blocks[-1].header == ["Step", "Nm"] and doc.blocks[-1].rows == [["Nut", "45"]]


def test_xlsx_every_sheet(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Specs"
    ws.append(["model", "flow_m3h"])
    ws.append(["KF-220", 12.0])
    ws2 = wb.create_sheet("Intervals")
    ws2.append(["task", "hours"])
    ws2.append(["grease", 2000])
    p = tmp_path / "specs.xlsx"
    wb.save(str(p))
    (doc,) = _load(p)
    assert doc.metadata["sheets"] == ["Specs", "Intervals"]
    tables = [b for b in doc.blocks if b.kind == "table"]
    assert tables[0].rows == [["KF-220", "12"]] and tables[1].header == ["task", "hours"]


def test_csv_and_malformed_csv(tmp_path: Path) -> None:
    p = tmp_path / "parts.csv"
    p.write_text("part,price\nKP-1,10\nKP-2,20\n", encoding="utf-8")
    (doc,) = _load(p)
    assert doc.blocks[0].rows == [["KP-1", "10"], ["KP-2", "20"]]
    p.write_text("part,price\nKP-1,10\nKP-2,20,extra\n", encoding="utf-8")
    with pytest.raises(LoadError, match="line 3 has 3 fields"):
        _load(p)


def test_json_and_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "b.jsonl"
    p.write_text(
        '{"id": "SB-1", "models": ["KF-340", "KF-560"], "fix": {"part": "KP-1"}}\n\n{"id": "SB-2"}\n',
        encoding="utf-8",
    )
    (doc,) = _load(p)
    assert [b.header for b in doc.blocks] == [["SB-1"], ["SB-2"]]
    assert doc.blocks[0].meta["models"] == "KF-340, KF-560" and doc.blocks[0].meta["fix.part"] == "KP-1"
    p.write_text('{"id": 1}\n{"id": 2,,}\n', encoding="utf-8")
    with pytest.raises(LoadError, match="line 2 column"):
        _load(p)
    j = tmp_path / "list.json"
    j.write_text(json.dumps({"bulletins": [{"id": "A"}, {"id": "B"}]}), encoding="utf-8")
    assert len(_load(j)[0].blocks) == 2


def test_text_headings_and_bullets(tmp_path: Path) -> None:
    p = tmp_path / "memo.txt"
    p.write_text(
        "Meeting memo\n\nATTENDEES\nAnna, Ben\n\nActions:\n- order seals\n- call Linz\n", encoding="utf-8"
    )
    (doc,) = _load(p)
    assert doc.title == "Meeting memo"
    assert ("heading", "ATTENDEES") in kinds(doc.blocks) and ("list_item", "- call Linz") in kinds(doc.blocks)


def test_sqlite_every_table(tmp_path: Path) -> None:
    p = tmp_path / "crm.db"
    con = sqlite3.connect(p)
    con.executescript(
        "CREATE TABLE customers(id INTEGER, name TEXT); INSERT INTO customers VALUES (1,'Acme');"
        "CREATE TABLE tickets(id INTEGER, code TEXT); INSERT INTO tickets VALUES (7,'E-214');"
    )
    con.commit()
    con.close()
    docs = _load(p)
    assert [d.part for d in docs] == ["table:customers", "table:tickets"]
    assert docs[1].blocks[0].rows == [["7", "E-214"]] and docs[1].content_hash


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.md", b"", "empty"),
        ("blank.txt", b"   \n\n", "empty"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary content"),
        ("latin1.md", "caf\u00e9".encode("latin-1"), "not valid UTF-8"),
        ("fake.pdf", b"%PDF-1.4\nthis is not a pdf", "PDF"),
        ("fake.docx", b"PK\x03\x04broken", "not a valid .docx"),
        ("fake.xlsx", b"not a zip", "not a valid .xlsx"),
        ("fake.db", b"hello", "not a SQLite database"),
    ],
)
def test_bad_inputs_give_one_line_reasons(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(LoadError, match=reason) as info:
        _load(p)
    assert "\n" not in info.value.reason


def test_unsupported_format(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="unsupported format '.png'"):
        loader_for(tmp_path / "x.png")


def test_html_keeps_every_article_and_loose_text(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    p.write_text(
        "<html><body><nav>Menu</nav>Loose body text about the KF-220.<article><h1>First</h1><p>Alpha fact.</p>"
        "</article><article><h2>Second</h2>Loose article text with <b>bold</b> beta.<section>Section gamma "
        "<p>Delta paragraph.</p> after delta</section><details><summary>More</summary>Epsilon hidden.</details>"
        "</article><!-- a comment --></body></html>",
        encoding="utf-8",
    )
    (doc,) = _load(p)
    got = [(b.kind, b.text) for b in doc.blocks]
    assert got == [
        ("heading", "First"),
        ("paragraph", "Alpha fact."),
        ("heading", "Second"),
        ("paragraph", "Loose article text with bold beta."),
        ("paragraph", "Section gamma"),
        ("paragraph", "Delta paragraph."),
        ("paragraph", "after delta"),
        ("paragraph", "More"),
        ("paragraph", "Epsilon hidden."),
    ]  # two articles kept; loose text outside them (as the menu) is not the page's content


def test_html_without_main_keeps_loose_body_text_and_survives_deep_nesting(tmp_path: Path) -> None:
    p = tmp_path / "page.html"
    deep = "<div>" * 5000 + "Deep text." + "</div>" * 5000
    p.write_text(
        f"<html><body>Loose start.<section>In a section</section>{deep}</body></html>", encoding="utf-8"
    )
    (doc,) = _load(p)
    assert [b.text for b in doc.blocks] == ["Loose start.", "In a section", "Deep text."]


def test_sqlite_one_unreadable_table_is_skipped_with_a_warning(tmp_path: Path) -> None:
    p = tmp_path / "mixed.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE pumps (model TEXT, photo BLOB)")
    con.execute("INSERT INTO pumps VALUES ('KF-220', ?)", (b"\x00\xff" * 5000,))
    con.execute("CREATE VIRTUAL TABLE notes USING fts5(body)")
    con.execute("INSERT INTO notes VALUES ('grease every 500 hours')")
    con.execute("CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1)")
    con.execute("INSERT INTO boxes VALUES (1, 0, 5)")
    con.commit()
    con.close()
    # an unknown module: the table is declared, its module does not exist in any reader
    raw = sqlite3.connect(p)
    raw.execute("PRAGMA writable_schema=ON")
    raw.execute(
        "INSERT INTO sqlite_master VALUES ('table', 'alien', 'alien', 0, 'CREATE VIRTUAL TABLE alien USING nosuchmod(a)')"
    )
    raw.commit()
    raw.close()
    docs = _load(p)
    by_table = {d.metadata["table"]: d for d in docs}
    assert by_table["pumps"].blocks[0].rows == [["KF-220", "[binary 10000 bytes]"]]
    assert by_table["notes"].blocks[0].rows == [["grease every 500 hours"]]  # read through its module
    assert by_table["boxes"].blocks[0].rows == [["1", "0.0", "5.0"]]
    assert not any(t.startswith(("notes_", "boxes_")) for t in by_table)  # their storage, not read twice
    assert "alien" not in by_table
    warnings = [w for d in docs for w in d.warnings]
    assert any("table 'alien'" in w and "nosuchmod" in w for w in warnings), warnings
    assert not any("--query" in w for w in warnings)
