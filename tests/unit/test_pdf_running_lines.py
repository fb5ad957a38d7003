"""PDF running headers and footers are removed on their own: the sample manuals' page headers and
"Page N of M" footers never reach a chunk, while body text (even text that repeats) stays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from industry_expert.ingest.pdf import load, strip_running_lines

MANUALS = Path(__file__).resolve().parents[2] / "examples" / "kestrel" / "data" / "manuals"
PAGE_FOOTER = re.compile(r"Page \d+ of \d+")


@pytest.mark.parametrize(
    ("name", "header", "body"),
    [
        (
            "kf-series-service-manual.pdf",
            "Kestrel Fluidworks GmbH - KF Series Centrifugal Pumps (KF-MAN-KF)",
            "must be derated; ask Kestrel for the derating factor.",
        ),
        (  # two pages: the header and footer repeat on both
            "dx-series-datasheet.pdf",
            "Kestrel Fluidworks GmbH - DX Series Diaphragm Dosing Pumps (KF-DS-DX)",
            "Datasheet DX-12 and DX-40",
        ),
    ],
)
def test_sample_pdfs_lose_their_running_header_and_footer(name: str, header: str, body: str) -> None:
    path = MANUALS / name
    raw = [p.extract_text() for p in PdfReader(str(path)).pages]
    assert all(PAGE_FOOTER.search(t) for t in raw) and sum(header in t for t in raw) >= len(raw) // 2
    (doc,) = load(path)
    text = "\n".join(b.text for b in doc.blocks)
    assert not PAGE_FOOTER.search(text) and header not in text
    assert body in text
    assert {b.page for b in doc.blocks} == set(range(1, len(raw) + 1))  # page numbers kept


def test_only_lines_at_page_edges_recurring_on_half_the_pages_go() -> None:
    body = "\n".join(f"Step {i} of the procedure for this page." for i in range(1, 6))
    pages = [
        f"ACME Pump Manual rev 3\n{n}. Section {n}\nIntro {n}.\n{body}\nWarning: isolate the pump first.\n"
        f"Body text {n}.\n{body}\nOnly on page one\nPage {n} of 4"
        for n in range(1, 5)
    ]
    pages[0] = pages[0].replace("Only on page one", "Appendix note")
    out = strip_running_lines(pages)
    for n, text in enumerate(out, start=1):
        assert "ACME Pump Manual" not in text and f"Page {n} of 4" not in text
        # repeats on every page but sits in the body (not among the top/bottom lines): kept
        assert "Warning: isolate the pump first." in text and f"Body text {n}." in text
    assert "Appendix note" in out[0]  # at the edge but on one page only: kept
    single = ["Title\nBody\nPage 1 of 1"]
    assert strip_running_lines(single) == single  # one page: nothing recurs
