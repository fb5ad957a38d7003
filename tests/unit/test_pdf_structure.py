"""Real-PDF structure on small PDFs generated here with fpdf2: section paths from the outline or from
typography (never a code line or an upper-case fragment), running headers with page numbers gone,
hyphenated words rejoined (real hyphens kept), a sentence after a page break cited on its own page,
an image-only page reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.config import ChunkSettings
from industry_expert.ingest import pdf_pdfium
from industry_expert.ingest.chunking import chunk_blocks
from industry_expert.ingest.pdf import PdfOptions, carry_sentences, load, page_blocks
from industry_expert.ingest.pdf_headings import could_be_heading
from industry_expert.ingest.pdf_lines import Line
from industry_expert.ingest.pdf_text import (
    Vocabulary,
    drop_contents,
    fix_text,
    is_title_header,
    join_lines,
    strip_running,
    strip_title_headers,
    title_words,
)
from industry_expert.types import Block

fpdf = pytest.importorskip("fpdf")

BACKENDS = [
    "pypdf",
    pytest.param(
        "pdfium", marks=pytest.mark.skipif(not pdf_pdfium.available(), reason="pypdfium2 not installed")
    ),
]


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on each backend installed: PDFium (preferred when there) and pypdf."""
    if request.param == "pypdf":
        monkeypatch.setattr(pdf_pdfium, "available", lambda: False)
    return str(request.param)


TITLE = "Product User Manual"
CUT_SENTENCE = "The relief valve opens at 12 bar on the KF-340 pump."
PAGE2_SENTENCE = "The drain plug must be tightened to 25 Nm before filling."


class _Manual(fpdf.FPDF):
    """Running header 'Product User Manual  N / M' on every page with text."""

    image_page = 0

    def header(self) -> None:
        if self.page_no() == self.image_page:
            return
        self.set_font("Helvetica", "I", 8)
        self.cell(0, 6, TITLE, align="L")
        self.cell(0, 6, f"{self.page_no()} / {{nb}}", align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(4)


def _heading(pdf: fpdf.FPDF, text: str, level: int, outline: bool) -> None:
    if outline:
        pdf.start_section(text, level=level)
    pdf.set_font("Helvetica", "B", 16 if level == 0 else 13)
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")


def _body(pdf: fpdf.FPDF, lines: list[str], font: str = "Helvetica", size: int = 10) -> None:
    pdf.set_font(font, "", size)
    pdf.multi_cell(0, 5, "\n".join(lines), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _fragment(pdf: fpdf.FPDF, text: str, size: int = 14) -> None:
    """A big bold line that is not a heading (a code line or an upper-case label)."""
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")


def build_manual(path: Path, outline: bool = True, image_page: bool = True) -> Path:
    """Four pages (three with image_page): sections 1, 1.1 on page 1; a paragraph that runs onto
    page 2; sections 2, 2.1 on page 2; an image-only page 3; section 3 on the last page."""
    pdf = _Manual()
    pdf.set_title(TITLE)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    _heading(pdf, "1 Introduction", 0, outline)
    _body(
        pdf,
        [
            "This manual describes the configura-",
            "tion of the pump. Order spare part KP-3402-",
            "07 for the seal kit. The log file is read-",
            "only for operators; a read-only file cannot be changed.",
        ],
    )
    _heading(pdf, "1.1 Network settings", 1, outline)
    _body(pdf, ["Set the listening address in the controller file:"])
    _body(pdf, ["LISTEN 0.0.0.0 8080", "x = 1;"], font="Courier", size=9)
    _fragment(pdf, "CONTEXT")
    _fragment(pdf, "port = 8080; host = 0.0.0.0")
    _body(
        pdf,
        [
            "The controller restarts after an over-",
            "load of the supply and keeps its settings.",
            "Pressure limits:",
        ],
    )
    _body(pdf, ["The relief valve opens at 12 bar on"])
    pdf.add_page()
    _body(pdf, ["the KF-340 pump. " + PAGE2_SENTENCE, "Check the seal afterwards."])
    _heading(pdf, "2 Maintenance", 0, outline)
    _heading(pdf, "2.1 Seals", 1, outline)
    _body(pdf, ["Replace the mechanical seal every 8000 operating hours."])
    if image_page:
        from PIL import Image

        pdf.image_page = pdf.page_no() + 1
        pdf.add_page()
        pdf.image(Image.new("RGB", (40, 40), (120, 30, 30)), x=20, y=20, w=100)
    pdf.add_page()
    _heading(pdf, "3 Troubleshooting", 0, outline)
    _body(pdf, ["If the pump does not start, check the fuse and the motor protection switch."])
    pdf.output(str(path))
    return path


def _chunks(path: Path) -> list:
    (doc,) = load(path)
    return chunk_blocks("d", doc.title, doc.blocks, ChunkSettings())


def _text(path: Path) -> str:
    (doc,) = load(path)
    return "\n".join(b.text for b in doc.blocks)


@pytest.fixture(scope="module")
def outlined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manual(tmp_path_factory.mktemp("pdf") / "outlined.pdf", outline=True)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_manual(tmp_path_factory.mktemp("pdf") / "plain.pdf", outline=False, image_page=False)


def _sections(chunks: list) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for c in chunks:
        out.setdefault(c.section, set()).add(c.page)
    return out


EXPECTED = {
    f"{TITLE} > 1 Introduction": {1},
    f"{TITLE} > 1 Introduction > 1.1 Network settings": {1, 2},
    f"{TITLE} > 2 Maintenance > 2.1 Seals": {2},
    f"{TITLE} > 3 Troubleshooting": {4},
}


def test_outline_gives_the_section_paths_and_their_pages(outlined: Path) -> None:
    (doc,) = load(outlined)
    assert doc.metadata == {"pages": 4, "pages_without_text": 1, "outline": True}
    assert _sections(_chunks(outlined)) == EXPECTED


def test_without_outline_typography_gives_the_same_paths(plain: Path) -> None:
    (doc,) = load(plain)
    assert doc.metadata == {"pages": 3, "pages_without_text": 0, "outline": False}
    headings = [b.text for b in doc.blocks if b.kind == "heading"]
    assert headings == [
        "1 Introduction",
        "1.1 Network settings",
        "2 Maintenance",
        "2.1 Seals",
        "3 Troubleshooting",
    ]
    expected = {**EXPECTED, f"{TITLE} > 3 Troubleshooting": {3}}
    assert _sections(_chunks(plain)) == expected


def test_code_lines_and_upper_case_fragments_are_text_not_headings(plain: Path, outlined: Path) -> None:
    for path in (plain, outlined):
        text = _text(path)
        assert "LISTEN 0.0.0.0 8080" in text and "CONTEXT" in text and "port = 8080; host = 0.0.0.0" in text
        assert not any(
            "LISTEN" in c.section or "CONTEXT" in c.section or "port" in c.section for c in _chunks(path)
        )
    for line in (
        "LISTEN 0.0.0.0 8080",
        "CONTEXT",
        "x = 1;",
        "$ sudo systemctl restart pump",
        "10.4.2 Firewall",
    ):
        assert could_be_heading(line) is (line == "10.4.2 Firewall")
    assert not could_be_heading("Installation", mono=True)


def test_running_header_and_page_numbers_are_gone(outlined: Path) -> None:
    text = _text(outlined)
    assert TITLE not in text and "/ 4" not in text


def test_hyphenated_words_rejoined_and_real_hyphens_kept(outlined: Path) -> None:
    text = _text(outlined)
    assert "configuration of the pump" in text and "overload of the supply" in text
    assert "KP-3402-07 for the seal kit" in text
    assert "read-only for operators" in text
    assert "configura" + "-" not in text and "over- " not in text


def test_a_sentence_after_a_page_break_cites_its_own_page(outlined: Path) -> None:
    chunks = _chunks(outlined)
    head, tail = CUT_SENTENCE.split(" the KF-340")  # the page break falls before "the KF-340 pump."
    first = [c for c in chunks if head in c.text]
    after = [c for c in chunks if PAGE2_SENTENCE in c.text]
    assert [c.page for c in first] == [1] and CUT_SENTENCE not in first[0].text
    assert [c.page for c in after] == [2] and after[0].text.startswith("the KF-340" + tail)
    assert all(c.page is not None for c in chunks)
    (doc,) = load(outlined, options=PdfOptions(carry_sentences=True))  # kept whole where it starts
    carried = chunk_blocks("d", doc.title, doc.blocks, ChunkSettings())
    assert [c.page for c in carried if CUT_SENTENCE in c.text] == [1]
    assert CUT_SENTENCE not in next(c for c in carried if PAGE2_SENTENCE in c.text).text


def test_image_only_page_is_a_warning_not_a_failure(outlined: Path, plain: Path) -> None:
    (doc,) = load(outlined)
    assert doc.warnings == ["1 of 4 pages have no text: scanned? OCR is not included"]
    assert load(plain)[0].warnings == []


def test_continuation_markers_are_dropped_and_the_line_rejoined() -> None:
    lines = fix_text(
        [Line("curl http://pump.local:8080/api/v1/sta\u2190-"), Line("tus --retry 3"), Line("done \u21a9")]
    )
    assert [ln.text for ln in lines] == ["curl http://pump.local:8080/api/v1/status --retry 3", "done"]
    assert fix_text([Line("spare \ufb01lter and \ufb02ange")])[0].text == "spare filter and flange"


def test_join_lines_uses_the_documents_own_words() -> None:
    vocab = Vocabulary.of(["a read-only file", "the Kestrel wrench", "a built-in pump"])
    assert join_lines("the file is read-", "only now", vocab) == "the file is read-only now"
    assert join_lines("the built-", "in pump", vocab) == "the built-in pump"
    assert join_lines("the configura-", "tion", vocab) == "the configuration"
    assert (
        join_lines("see https://example.com/docs/", "pumps/kf.html", vocab)
        == "see https://example.com/docs/pumps/kf.html"
    )
    assert join_lines("pre-", "Installation", vocab) == "pre-Installation"
    assert join_lines("in the debian/-", "patches/ directory", vocab) == "in the debian/patches/ directory"
    assert join_lines("a dash -", "and more", vocab) == "a dash - and more"


def test_running_lines_with_varying_page_numbers_and_chapter_names() -> None:
    words = ["pumps", "valves", "seals", "motors", "flanges", "pipes", "fuses"]
    pages = [
        [Line(f"Product User Manual {n} / 123"), Line(f"Body about {w}.")]
        for n, w in enumerate(words, start=1)
    ]
    pages[3].insert(0, Line("Chapter 2. Installation 4"))
    out = strip_running(pages)
    assert all(len(lines) == 1 and lines[0].text.startswith("Body") for i, lines in enumerate(out) if i != 3)
    assert out[3][0].text == "Chapter 2. Installation 4"  # on one page only: kept


def test_page_blocks_keep_code_lines_as_one_block() -> None:
    lines = [
        Line("Start the service:", 10),
        Line("systemctl start pump", 9, mono=True),
        Line("systemctl enable pump", 9, mono=True),
    ]
    blocks = page_blocks(lines, 3)
    assert [(b.kind, b.text, b.page) for b in blocks] == [
        ("paragraph", "Start the service:", 3),
        ("paragraph", "systemctl start pump\nsystemctl enable pump", 3),
    ]


def test_only_the_first_block_of_a_page_carries_a_sentence_back() -> None:
    """A page of lines without a sentence end (a table, a list) stays on its page: only the
    opening words of its first block finish the sentence cut on the page before."""
    blocks = [
        Block("paragraph", "The functions below take any numeric", page=37),
        Block("paragraph", "argument", page=38),
        Block("paragraph", "besj0(x) int or real J0 Bessel function of x in radians", page=38),
        Block("paragraph", "ceil(x) any smallest integer not less than x", page=38),
    ]
    out = carry_sentences(blocks, Vocabulary())
    assert [(b.page, b.text) for b in out] == [
        (37, "The functions below take any numeric argument"),
        (38, "besj0(x) int or real J0 Bessel function of x in radians"),
        (38, "ceil(x) any smallest integer not less than x"),
    ]


def test_contents_and_index_pages_lose_their_page_references() -> None:
    index = [Line("INDEX")] + [Line(f"term{i}, {i * 3}, {i * 7 + 1}") for i in range(12)] + [Line("see also")]
    assert [ln.text for ln in drop_contents(index, set())] == ["INDEX", "see also"]
    toc = [Line("1.2 Installation . . . . . . . . 14"), Line("Set the pressure to 4 bar.")]
    assert [ln.text for ln in drop_contents(toc, set())] == ["Set the pressure to 4 bar."]
    body = [Line("Tighten the bolts to 25 Nm."), Line("Sizes are 10, 12 and 14")] * 3
    assert drop_contents(body, set()) == body  # a few numbers at line ends: a body page


def test_running_headers_that_name_the_chapter_or_section_go() -> None:
    titles = {title_words(t) for t in ("Tool Setups", "devscripts", "Installation", "Wiring")}
    assert is_title_header("CHAPTER 3. TOOL SETUPS 3.5. DEVSCRIPTS", titles)
    assert is_title_header("14 Chapter 2. Installation", titles)
    assert is_title_header("2.3 Wiring 15", titles)
    assert not is_title_header("2.3 Wiring", titles)  # the heading itself
    assert not is_title_header("Wiring the pump to the controller", titles)
    lines = [Line("CHAPTER 3. TOOL SETUPS 3.5. DEVSCRIPTS"), Line("3.5 devscripts", level=2), Line("Body.")]
    assert [ln.text for ln in strip_title_headers(lines, titles)] == ["3.5 devscripts", "Body."]
