"""What a PDF backend reads: pages as lines with their typography, the outline, image-only pages.

Two backends fill a ``PdfSource``: ``pdf_pdfium`` (PDFium: word spaces placed by geometry, fast)
when pypdfium2 is installed, else ``pdf_pypdf``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_BOLD = re.compile(r"bold|black|heavy|semibold|demi|\+?(?:cm|sf|ec|lm)bx|-bx\b|bx\d", re.I)
_MONO = re.compile(r"mono|courier|cmtt|sftt|ectt|typewriter|consol|menlo|inconsolata|code|lmtt", re.I)


@dataclass(frozen=True)
class Cell:
    """A run of a line's characters with no gap wider than the font size inside it."""

    x0: float  # left edge of its first character (PDF units)
    x1: float  # right edge of its last character
    text: str


@dataclass
class Line:
    """One extracted line: its text and the typography of most of its characters."""

    text: str
    size: float = 0.0  # effective font size (points); 0 when unknown
    bold: bool = False
    mono: bool = False
    y: float | None = None  # baseline height on the page (PDF units, larger is higher)
    level: int = 0  # heading level once headings are found (0: body text)
    cells: tuple[Cell, ...] = ()  # runs of text split by a wide gap (table columns); PDFium only
    table: tuple[list[str], list[list[str]]] | None = None  # a whole table: (header, rows); text ""


@dataclass
class OutlineEntry:
    level: int  # 1 = top level
    title: str
    page: int  # 0-based page index
    top: float | None = None  # the destination's height on the page, when given


@dataclass
class PdfSource:
    """A PDF as a backend read it."""

    pages: list[list[Line]]
    images: list[bool]  # per page: draws an image (a page with one and no text: scanned?)
    outline: list[OutlineEntry] = field(default_factory=list)
    title: str = ""  # the document information's title


def font_style(name: str, fixed_pitch: bool = False) -> tuple[bool, bool]:
    """(bold, monospace) from a font's name (subset prefix ``ABCDEF+`` ignored)."""
    name = name.split("+")[-1]
    return bool(_BOLD.search(name)), fixed_pitch or bool(_MONO.search(name))


CELL_GAP = 1.0  # a gap wider than this many font sizes between two characters starts a new cell


class LineBuilder:
    """Collects a line's characters: its size is the size of most of them; it is bold when 60 %
    and monospace (code) when 80 % of them are (an inline ``keyword`` does not make a code line).
    Characters given with their box (``x0``, ``x1``) are also grouped into cells at wide gaps."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.sizes: Counter[float] = Counter()
        self.bold = self.mono = 0
        self.y: float | None = None
        self.cells: list[list] = []  # [x0, x1, text] per cell
        self.boxed = True  # every character came with its box

    def add(
        self,
        text: str,
        size: float,
        bold: bool,
        mono: bool,
        y: float | None,
        box: tuple[float, float] | None = None,
    ) -> None:
        n = len(text.strip())
        if n and size > 0:
            self.sizes[round(size, 1)] += n
            self.bold += n * bold
            self.mono += n * mono
            if self.y is None:
                self.y = y
        self.parts.append(text)
        if n:
            self._cell(text, size, box)
        elif self.cells:
            self.cells[-1][2] += text

    def _cell(self, text: str, size: float, box: tuple[float, float] | None) -> None:
        if box is None:
            self.boxed = False
            return
        last = self.cells[-1] if self.cells else None
        if last is None or box[0] - last[1] > CELL_GAP * max(size, 1.0):
            self.cells.append([box[0], box[1], text])
        else:
            last[1], last[2] = max(last[1], box[1]), last[2] + text

    def line(self) -> Line:
        text = "".join(self.parts)
        cells = tuple(Cell(a, b, " ".join(t.split())) for a, b, t in self.cells) if self.boxed else ()
        total = sum(self.sizes.values())
        if not total:
            return Line(text, y=self.y)
        size = self.sizes.most_common(1)[0][0]
        return Line(text, size, self.bold >= 0.6 * total, self.mono >= 0.8 * total, self.y, cells=cells)


def body_size(pages: list[list[Line]]) -> float:
    """The size most characters are set in (0 when the fonts are unknown)."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            if ln.size and not ln.mono:
                sizes[ln.size] += len(ln.text.strip())
    return sizes.most_common(1)[0][0] if sizes else 0.0
