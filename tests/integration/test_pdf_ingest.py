"""A generated PDF manual through the real pipeline (bundled embedder, on-disk store): search cites the
page of the sentence, section paths come from the outline, ``kb stats`` reports the PDF's pages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.test_pdf_structure import build_manual

from industry_expert.api import kb_stats
from industry_expert.ingest.pipeline import ingest
from industry_expert.retrieve.hybrid import search

pytestmark = pytest.mark.slow
EXPERT = [sys.executable, "-m", "industry_expert"]


@pytest.fixture(scope="module")
def pdf_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pdfkb")
    data = root / "data"
    data.mkdir()
    build_manual(data / "manual.pdf", outline=True)
    build_manual(data / "plain.pdf", outline=False, image_page=False)
    report = ingest([str(data)], root / "kb")
    assert report.ok, report.to_dict()["errors"]
    return root / "kb"


def test_search_cites_the_page_of_the_sentence(pdf_kb: Path) -> None:
    hits = search(
        "drain plug tightening torque before filling", pdf_kb, k=3, filters={"source": "*manual.pdf"}
    )
    assert hits[0].page == 2 and "25 Nm" in hits[0].text
    assert hits[0].section == "Product User Manual > 1 Introduction > 1.1 Network settings"
    hits = search("relief valve opening pressure", pdf_kb, k=3, filters={"source": "*manual.pdf"})
    assert hits[0].page == 1 and "relief valve opens at 12 bar" in hits[0].text  # printed on page 1


def test_search_json_gives_the_page(pdf_kb: Path) -> None:
    out = subprocess.run(
        [*EXPERT, "search", "when to replace the mechanical seal", "--kb", str(pdf_kb), "--json", "-k", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    top = json.loads(out.stdout)[0]
    assert top["page"] == 2 and top["section"].endswith("2 Maintenance > 2.1 Seals")


def test_kb_stats_reports_pages_text_and_outline(pdf_kb: Path) -> None:
    pdfs = {Path(p["source"]).name: p for p in kb_stats(pdf_kb)["pdfs"]}
    assert pdfs["manual.pdf"] == {**pdfs["manual.pdf"], "pages": 4, "pages_without_text": 1, "outline": True}
    assert pdfs["plain.pdf"] == {**pdfs["plain.pdf"], "pages": 3, "pages_without_text": 0, "outline": False}
    out = subprocess.run(
        [*EXPERT, "kb", "stats", "--kb", str(pdf_kb)], capture_output=True, text=True, check=True
    )
    assert "manual.pdf: 4 pages, 1 without text, outline used" in out.stdout
    assert "plain.pdf: 3 pages, 0 without text, no outline (headings from typography)" in out.stdout
