"""PDF backend on PDFium (pypdfium2): word spaces placed by glyph geometry (pypdf glues the words
of many TeX/dblatex PDFs together), about 50 times faster than pypdf's text extraction.

PDFium joins a word hyphenated at a line end and marks the hyphen with U+FFFE; the line is cut
there again (the hyphen restored) so the loader decides, with the document's vocabulary, whether
the hyphen belongs to the word.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError
from industry_expert.ingest.base import clean
from industry_expert.ingest.pdf_lines import Line, LineBuilder, OutlineEntry, PdfSource, font_style

_SOFT_HYPHEN_JOIN = "\ufffe"
_FIXED_PITCH = 1  # PDF font descriptor flag


def available() -> bool:
    try:
        import pypdfium2  # noqa: F401
    except ImportError:
        return False
    return True


def read(path: Path) -> PdfSource:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise LoadError("PDF is encrypted (a password is required)") from exc
        raise LoadError(f"cannot read PDF ({exc})") from exc
    try:
        pages, images = [], []
        for i in range(len(doc)):
            page = doc[i]
            pages.append(page_lines(page))
            images.append(has_images(page))
        return PdfSource(pages, images, read_outline(doc), _meta_title(doc))
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file: one line, not a traceback
        raise LoadError(f"damaged PDF ({exc.__class__.__name__}: {exc})") from exc
    finally:
        doc.close()


def _meta_title(doc: Any) -> str:
    try:
        return clean(doc.get_metadata_dict().get("Title", "") or "")
    except Exception:  # noqa: BLE001 - metadata is optional
        return ""


class _Fonts:
    """(bold, monospace) of a text page's characters, read once per text object."""

    def __init__(self, textpage: Any) -> None:
        import pypdfium2.raw as raw

        self.raw, self.tp = raw, textpage
        self.buf = ctypes.create_string_buffer(256)
        self.flags = ctypes.c_int()
        self.last: tuple[int, tuple[bool, bool]] = (-1, (False, False))

    def style(self, i: int) -> tuple[bool, bool]:
        obj = self.raw.FPDFText_GetTextObject(self.tp, i)
        key = ctypes.cast(obj, ctypes.c_void_p).value or 0
        if key and key == self.last[0]:
            return self.last[1]
        self.raw.FPDFText_GetFontInfo(self.tp, i, self.buf, 256, ctypes.byref(self.flags))
        name = self.buf.value.decode("utf-8", "replace")
        weight = self.raw.FPDFText_GetFontWeight(self.tp, i)
        bold, mono = font_style(name, bool(self.flags.value & _FIXED_PITCH))
        self.last = (key, (bold or weight >= 600, mono))
        return self.last[1]


def page_lines(page: Any) -> list[Line]:
    """The page's lines (PDFium's line breaks) with the style of most of each line's characters."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    try:
        tp = textpage.raw
        n = raw.FPDFText_CountChars(tp)
        text = textpage.get_text_range(0, n) if n > 0 else ""
        if len(text) != n:  # characters outside the BMP: indices and text disagree, keep the text
            return [Line(t.replace(_SOFT_HYPHEN_JOIN, "-")) for t in text.splitlines()]
        return _lines(text, tp, _Fonts(tp))
    finally:
        textpage.close()


def _lines(text: str, tp: Any, fonts: _Fonts) -> list[Line]:
    import pypdfium2.raw as raw

    lines: list[Line] = []
    acc = LineBuilder()
    x, y = ctypes.c_double(), ctypes.c_double()
    box = [ctypes.c_double() for _ in range(4)]  # left, right, bottom, top
    refs = [ctypes.byref(b) for b in box]
    for i, ch in enumerate(text):
        if ch in "\r\n":
            if ch == "\n" or not text.startswith("\n", i + 1):
                lines.append(acc.line())
                acc = LineBuilder()
            continue
        if ch == _SOFT_HYPHEN_JOIN:
            acc.parts.append("-")
            lines.append(acc.line())
            acc = LineBuilder()
            continue
        if ch.isspace():
            acc.add(ch, 0, False, False, None)
            continue
        bold, mono = fonts.style(i)
        raw.FPDFText_GetCharOrigin(tp, i, ctypes.byref(x), ctypes.byref(y))
        edges = (box[0].value, box[1].value) if raw.FPDFText_GetCharBox(tp, i, *refs) else None
        acc.add(ch, raw.FPDFText_GetFontSize(tp, i), bold, mono, y.value, edges)
    lines.append(acc.line())
    return lines


def has_images(page: Any) -> bool:
    import pypdfium2.raw as raw

    try:
        return any(True for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=3))
    except Exception:  # noqa: BLE001
        return False


def read_outline(doc: Any) -> list[OutlineEntry]:
    """The outline in reading order, with each entry's page and height (empty if unreadable)."""
    out: list[OutlineEntry] = []
    try:
        for item in doc.get_toc(max_depth=8):
            dest = item.get_dest()
            page = dest.get_index() if dest is not None else None
            title = " ".join((item.get_title() or "").split())
            if page is None or page < 0 or not title:
                continue
            out.append(OutlineEntry(min(item.level + 1, 6), title, page, _top(dest)))
    except Exception:  # noqa: BLE001 - outline trees are often damaged; the text still counts
        return []
    return out


def _top(dest: Any) -> float | None:
    """The height an XYZ/FitH/FitBH destination scrolls to (None for the others)."""
    try:
        mode, pos = dest.get_view()
    except Exception:  # noqa: BLE001
        return None
    import pypdfium2.raw as raw

    if mode == raw.PDFDEST_VIEW_XYZ and len(pos) >= 2:
        return float(pos[1])
    if mode in (raw.PDFDEST_VIEW_FITH, raw.PDFDEST_VIEW_FITBH) and pos:
        return float(pos[0])
    return None
