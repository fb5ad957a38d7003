"""PDF loader (PDFium via pypdfium2 when installed, else pypdf): clean text per page, section paths from the outline or from typography.

A page's lines come with their fonts (``pdf_lines``); running headers and footers, contents lines and
continuation markers go and hyphenated words are rejoined (``pdf_text``); headings come from the
document outline, else from font size and weight (``pdf_headings``); aligned tables become table
blocks (``pdf_tables``). Every block keeps the page it is printed on, so the chunker (which never
lets a chunk cross a page) cites the page of every line; a sentence cut by a page break is two
pieces, each on its own page (``PdfOptions.carry_sentences`` keeps it whole on the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from industry_expert.ingest.base import Parsed, clean, require_text, title_from_path
from industry_expert.ingest.pdf_headings import Typography, norm, place_outline, text_levels
from industry_expert.ingest.pdf_lines import Line, OutlineEntry, PdfSource, body_size
from industry_expert.ingest.pdf_tables import with_tables
from industry_expert.ingest.pdf_text import (
    Vocabulary,
    drop_contents,
    fix_text,
    join_lines,
    strip_running,
    strip_title_headers,
    title_words,
)
from industry_expert.text import split_sentences
from industry_expert.types import Block

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25aa\u25cf\u2013]|\d+[.)])\s+")
_SENTENCE_END = (".", ":", "!", "?", ";")


def read(path: Path, backend: str = "auto") -> PdfSource:
    """The PDF read by PDFium when pypdfium2 is installed (``auto``), else by pypdf."""
    from industry_expert.ingest import pdf_pdfium, pdf_pypdf

    if backend == "pdfium" or (backend == "auto" and pdf_pdfium.available()):
        return pdf_pdfium.read(path)
    return pdf_pypdf.read(path)


@dataclass(frozen=True)
class PdfOptions:
    """The loader's choices that change what is indexed (``bench/retrieval_pdf.py`` grades each
    leave-one-corpus-out; the defaults are the shipped ones)."""

    tables: bool = True
    """Aligned tables become table blocks, each row written with its column names."""
    carry_sentences: bool = False
    """A sentence cut by a page break is kept whole on the page where it starts (off: each piece
    stays on the page it is printed on; chosen leave-one-corpus-out, every rotation chose off)."""
    drop_contents: bool = True
    """Table-of-contents lines, and contents and index pages, are left out."""
    running_edge: int = 3
    """How many lines at a page's top and bottom are checked for running headers and footers."""


OPTIONS = PdfOptions()


@dataclass
class PdfText:
    """A PDF's blocks and what the loader found out about it."""

    blocks: list[Block]
    pages: int
    no_text: list[int] = field(default_factory=list)  # 1-based pages with images and no text
    outline: bool = False

    @property
    def warnings(self) -> list[str]:
        if not self.no_text:
            return []
        return [f"{len(self.no_text)} of {self.pages} pages have no text: scanned? OCR is not included"]


def load(path: Path, backend: str = "auto", options: PdfOptions | None = None) -> list[Parsed]:
    src = read(path, backend)
    doc = pdf_blocks(src, options or OPTIONS)
    blocks = require_text(doc.blocks)
    first_heading = next((b.text for b in blocks if b.kind == "heading"), "")
    meta = {"pages": doc.pages, "pages_without_text": len(doc.no_text), "outline": doc.outline}
    return [
        Parsed(
            title=src.title or first_heading or title_from_path(path),
            blocks=blocks,
            metadata=meta,
            warnings=doc.warnings,
        )
    ]


def pdf_blocks(src: PdfSource, options: PdfOptions = OPTIONS) -> PdfText:
    """Clean blocks of every page, headings from the outline (or typography)."""
    no_text = [i + 1 for i, lines in enumerate(src.pages) if not _text(lines) and src.images[i]]
    pages = [fix_text(lines) for lines in strip_running(src.pages, options.running_edge)]
    outline = src.outline if len(src.outline) >= 2 else []
    titles = {norm(e.title) for e in outline}
    if options.drop_contents:
        pages = [drop_contents(lines, titles) for lines in pages]
    if options.tables:
        pages = [with_tables(lines) for lines in pages]
    vocab = Vocabulary.of([ln.text for lines in pages for ln in lines])
    marked = _headings(pages, outline)
    heads = {title_words(e.title) for e in outline} or {
        title_words(ln.text) for p in marked for ln in p if ln.level
    }
    marked = [strip_title_headers(lines, heads - {""}) for lines in marked]
    blocks = [b for number, lines in enumerate(marked, start=1) for b in page_blocks(lines, number, vocab)]
    if options.carry_sentences:
        blocks = carry_sentences(blocks, vocab)
    return PdfText(blocks, len(pages), no_text, bool(outline))


def _text(lines: list[Line]) -> str:
    return "".join(ln.text for ln in lines).strip()


def _headings(pages: list[list[Line]], outline: list[OutlineEntry]) -> list[list[Line]]:
    if outline:
        per_page: dict[int, list[OutlineEntry]] = {}
        for e in outline:
            per_page.setdefault(e.page, []).append(e)
        return [place_outline(lines, per_page.get(i, [])) for i, lines in enumerate(pages)]
    body = body_size(pages)
    if not body:
        return [text_levels(lines) for lines in pages]
    typo = Typography(pages, body)
    return [typo.mark(lines) for lines in pages]


class _Paragraphs:
    """Rebuilds paragraphs, list items and code blocks from a page's wrapped lines."""

    def __init__(self, page: int, vocab: Vocabulary, width: int) -> None:
        self.page, self.vocab, self.width = page, vocab, width
        self.blocks: list[Block] = []
        self.buf = ""
        self.kind = "paragraph"
        self.mono = False
        self.style: float | None = None  # font size of the paragraph's last line

    def flush(self) -> None:
        text = self.buf.strip() if self.mono else clean(self.buf)
        if text:
            self.blocks.append(Block(self.kind, text, page=self.page))
        self.buf, self.kind, self.mono = "", "paragraph", False

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.flush()
        self.blocks.append(Block("table", "", page=self.page, header=header, rows=rows))

    def heading(self, ln: Line) -> None:
        self.flush()
        self.blocks.append(Block("heading", clean(ln.text), level=ln.level, page=self.page))

    def line(self, ln: Line) -> None:
        text = ln.text.rstrip()
        style = ln.size or None
        if self.buf and (ln.mono != self.mono or _restyled(self.style, style)):
            self.flush()
        self.style = style
        if _BULLET.match(text) and not ln.mono:
            self.flush()
            self.kind, self.buf = "list_item", _BULLET.sub("", text, count=1)
            return
        self.mono = ln.mono
        if self.mono:
            self.buf = f"{self.buf}\n{text}" if self.buf else text
            return
        self.buf = join_lines(self.buf, text, self.vocab)
        if text.endswith(_SENTENCE_END) and len(text) < 0.8 * self.width:
            self.flush()


def _restyled(before: float | None, after: float | None) -> bool:
    """A change of font size ends a paragraph (a label, a caption, a display line); a change of
    weight does not (bold links and terms run inside paragraphs)."""
    return before is not None and after is not None and abs(before - after) > 0.6


def page_blocks(lines: list[Line], page: int, vocab: Vocabulary | None = None) -> list[Block]:
    """A page's blocks: headings as marked, paragraphs rebuilt from wrapped lines (a short line that
    ends a sentence ends one), bullets as list items, monospace runs as code blocks, aligned tables
    as table blocks (header and rows)."""
    vocab = vocab or Vocabulary()
    width = max((len(ln.text.rstrip()) for ln in lines if not ln.level), default=0)
    p = _Paragraphs(page, vocab, width)
    for ln in lines:
        if ln.table:
            p.table(*ln.table)
        elif ln.level:
            p.heading(ln)
        elif not ln.text.strip():
            p.flush()
        else:
            p.line(ln)
    p.flush()
    return p.blocks


def _open_sentence(block: Block) -> bool:
    """A paragraph (not code: code keeps its line breaks) that ends mid-sentence."""
    text = block.text.rstrip()
    return block.kind in ("paragraph", "list_item") and "\n" not in text and not text.endswith(_SENTENCE_END)


def carry_sentences(blocks: list[Block], vocab: Vocabulary) -> list[Block]:
    """A sentence cut by a page break is kept whole on the page where it starts: the first block of
    a page, when it is a paragraph, gives its opening words up to its first sentence end to the
    previous page's last paragraph. Only the first block: the rest of the page stays on its page
    (a page of lines without a sentence end, a table or a list, is not carried back block by
    block)."""
    out: list[Block] = []
    last_page: int | None = None
    for b in blocks:
        prev = out[-1] if out else None
        first_on_page, last_page = b.page != last_page, b.page
        if (
            prev
            and first_on_page
            and prev.page != b.page
            and b.kind == "paragraph"
            and "\n" not in b.text
            and _open_sentence(prev)
        ):
            sentences = split_sentences(b.text)
            first = sentences[0] if sentences else b.text
            prev.text = join_lines(prev.text, first, vocab)
            b = Block(b.kind, b.text[len(first) :].strip() if b.text.startswith(first) else "", page=b.page)
            if not b.text:
                continue
        out.append(b)
    return out


def strip_running_lines(pages: list[str], edge: int = 3) -> list[str]:
    """``strip_running`` for plain page texts (lines without fonts)."""
    kept = strip_running([[Line(t) for t in text.splitlines()] for text in pages], edge)
    return ["\n".join(ln.text for ln in lines) for lines in kept]
