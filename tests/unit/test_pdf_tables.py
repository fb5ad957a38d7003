"""Tables in a PDF (generated here with fpdf2) are kept as rows with their header, written as the
CSV and XLSX loaders' rows are; the paragraphs around a table are unchanged, and aligned lines
without a header row (a list of key bindings) stay text. PDFium only: pypdf gives no glyph boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.config import ChunkSettings
from industry_expert.ingest import pdf_pdfium
from industry_expert.ingest.chunking import chunk_blocks
from industry_expert.ingest.pdf import PdfOptions, load

fpdf = pytest.importorskip("fpdf")
pytestmark = pytest.mark.skipif(not pdf_pdfium.available(), reason="pypdfium2 not installed")

BEFORE = "Tighten every fitting of the pump to the torque in the table below before the first start."
AFTER = "Check the torque again after the first 50 hours of operation and note it in the log book."
HEADER = ["Part", "Torque", "Interval"]
ROWS = [
    ["Drain plug", "25 Nm", "500 h"],
    ["Inlet flange", "40 Nm", "1000 h"],
    ["Motor mount", "60 Nm", "2000 h"],
]
KEYS = [
    ("^B", "move back a single character."),
    ("^F", "move forward a single character."),
    ("^A", "move to the start of the line."),
]


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Maintenance", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, BEFORE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    with pdf.table(col_widths=(60, 40, 40), width=140, align="LEFT") as table:  # header row in bold
        for values in [HEADER, *ROWS]:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.ln(3)
    pdf.multi_cell(0, 5, AFTER, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Key bindings", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for key, what in KEYS:  # aligned, but no row names the columns: text
        pdf.cell(30, 5, key)
        pdf.cell(0, 5, what, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path_factory.mktemp("pdf") / "table.pdf"
    pdf.output(str(path))
    return path


def test_table_rows_come_with_their_header(manual: Path) -> None:
    (doc,) = load(manual, "pdfium")
    tables = [b for b in doc.blocks if b.kind == "table"]
    assert len(tables) == 1
    assert tables[0].header == HEADER
    assert tables[0].rows == ROWS
    assert tables[0].page == 1
    chunks = chunk_blocks("d", "Manual", doc.blocks, ChunkSettings())
    text = "\n".join(c.text for c in chunks)
    for row in ROWS:
        assert " | ".join(f"{h}: {v}" for h, v in zip(HEADER, row)) in text
    assert all(c.page == 1 for c in chunks)


def test_paragraphs_around_the_table_are_unchanged(manual: Path) -> None:
    (doc,) = load(manual, "pdfium")
    paragraphs = [b.text for b in doc.blocks if b.kind == "paragraph"]
    assert BEFORE in paragraphs
    assert AFTER in paragraphs
    assert not any("Drain plug" in p or "Torque Interval" in p for p in paragraphs)
    (plain,) = load(manual, "pdfium", PdfOptions(tables=False))  # without: rows run into the text
    merged = [b.text for b in plain.blocks if b.kind == "paragraph" and AFTER in b.text]
    assert merged and merged[0].startswith("Drain plug 25 Nm 500 h Inlet flange")


def test_aligned_lines_without_a_header_stay_text(manual: Path) -> None:
    (doc,) = load(manual, "pdfium")
    text = "\n".join(b.text for b in doc.blocks if b.kind != "table")
    for key, what in KEYS:
        assert f"{key} {what}" in text
    assert not any(b.kind == "table" and "^B" in str(b.rows) for b in doc.blocks)
