"""PDF backend on pypdf: lines from ``extract_text``'s visitor (the pieces it joins, with the font
and text matrix), the outline with its page destinations."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError
from industry_expert.ingest.base import clean
from industry_expert.ingest.pdf_lines import Line, LineBuilder, OutlineEntry, PdfSource, font_style


def read(path: Path) -> PdfSource:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("PDF is encrypted (a password is required)")
        pages = [page_lines(page) for page in reader.pages]
        images = [has_images(page) for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"cannot read PDF ({exc.__class__.__name__}: {exc})") from exc
    except Exception as exc:  # pypdf raises many internal types on damaged files
        raise LoadError(f"damaged PDF ({exc.__class__.__name__}: {exc})") from exc
    return PdfSource(pages, images, read_outline(reader), _meta_title(reader))


def _meta_title(reader: Any) -> str:
    try:
        info = reader.metadata
        return clean(str(info.get("/Title", "") or "")) if info else ""
    except Exception:  # noqa: BLE001 - metadata is optional
        return ""


def _scale(m: list[float]) -> float:
    return math.hypot(m[2], m[3]) if m and len(m) >= 4 else 1.0


def _height(cm: list[float], tm: list[float]) -> float:
    return tm[4] * cm[1] + tm[5] * cm[3] + cm[5]


def page_lines(page: Any) -> list[Line]:
    """The page's lines with typography; plain lines (unknown fonts) if the visitor fails."""
    lines: list[Line] = []
    acc = LineBuilder()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        nonlocal acc
        name = str((font or {}).get("/BaseFont", "") or "") if isinstance(font, dict) else ""
        bold, mono = font_style(name)
        eff = float(size or 0) * _scale(tm) * _scale(cm)
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append(acc.line())
                acc = LineBuilder()
            acc.add(piece, eff, bold, mono, _height(cm, tm))

    try:
        text = page.extract_text(visitor_text=visit) or ""
    except Exception:  # noqa: BLE001 - a damaged content stream: plain text or nothing
        return [Line(t) for t in _plain(page).splitlines()]
    lines.append(acc.line())
    if "".join(ln.text for ln in lines) != text.replace("\n", ""):
        return [Line(t) for t in text.splitlines()]  # out of step with the visitor: text only
    return lines


def _plain(page: Any) -> str:
    try:
        return page.extract_text() or ""
    except Exception:  # noqa: BLE001
        return ""


def has_images(page: Any) -> bool:
    """Whether a page draws an image (a scanned page has one and no text)."""
    try:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        if any(xobjects[k].get_object().get("/Subtype") in ("/Image", "/Form") for k in xobjects):
            return True
        contents = page.get_contents()
        return b" BI " in (contents.get_data() if contents else b"")
    except Exception:  # noqa: BLE001 - a damaged resource dictionary: no
        return False


def _entries(reader: Any, items: list[Any], level: int, out: list[OutlineEntry]) -> None:
    for item in items:
        if isinstance(item, list):
            _entries(reader, item, level + 1, out)
            continue
        try:
            page = reader.get_destination_page_number(item)
            top = item.get("/Top")
            title = " ".join(str(item.title or "").split())
        except Exception:  # noqa: BLE001 - a broken bookmark is skipped
            continue
        if page is not None and page >= 0 and title:
            top = float(top) if isinstance(top, (int, float)) else None
            out.append(OutlineEntry(min(level, 6), title, page, top))


def read_outline(reader: Any) -> list[OutlineEntry]:
    """The document outline in reading order (empty when there is none or it is unreadable)."""
    out: list[OutlineEntry] = []
    try:
        _entries(reader, list(reader.outline or []), 1, out)
    except Exception:  # noqa: BLE001 - outline trees are often damaged; the text still counts
        return []
    return out
