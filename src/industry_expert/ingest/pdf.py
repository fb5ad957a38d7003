"""PDF loader (pypdf): text per page, page numbers kept, numbered/caps headings detected."""

from __future__ import annotations

import re
from pathlib import Path

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed, clean, require_text, title_from_path
from industry_expert.ingest.text import is_heading_line
from industry_expert.types import Block

_NUMBERED = re.compile(r"^(\d+(?:\.\d+){0,3})\.?\s+[A-Z][^.!?]{1,70}$")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25aa]|\d+[.)])\s+")
_SENTENCE_END = (".", ":", "!", "?", ";")


def load(path: Path) -> list[Parsed]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("PDF is encrypted (a password is required)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"cannot read PDF ({exc.__class__.__name__}: {exc})") from exc
    except Exception as exc:  # pypdf raises many internal types on damaged files
        raise LoadError(f"damaged PDF ({exc.__class__.__name__}: {exc})") from exc
    blocks: list[Block] = []
    for number, text in enumerate(strip_running_lines(pages), start=1):
        blocks.extend(page_blocks(text, number))
    blocks = require_text(blocks)
    meta_title = ""
    try:
        info = reader.metadata
        meta_title = clean(str(info.get("/Title", "") or "")) if info else ""
    except Exception:  # noqa: BLE001 - metadata is optional
        meta_title = ""
    first_heading = next((b.text for b in blocks if b.kind == "heading"), "")
    return [
        Parsed(
            title=meta_title or first_heading or title_from_path(path),
            blocks=blocks,
            metadata={"pages": len(pages)},
        )
    ]


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def strip_running_lines(pages: list[str], edge: int = 3) -> list[str]:
    """Drop running headers/footers: lines near a page's top or bottom whose shape (digits
    ignored) recurs on at least half of the pages (and on two at least: a two-page datasheet has
    them too)."""
    if len(pages) < 2:
        return pages
    counts: dict[str, int] = {}
    for text in pages:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        for shape in {_shape(ln) for ln in lines[:edge] + lines[-edge:]}:
            counts[shape] = counts.get(shape, 0) + 1
    running = {s for s, n in counts.items() if n >= max(2, len(pages) / 2)}
    out = []
    for text in pages:
        lines = text.splitlines()
        nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
        edges = set(nonblank[:edge] + nonblank[-edge:])
        out.append("\n".join(ln for i, ln in enumerate(lines) if not (i in edges and _shape(ln) in running)))
    return out


def heading_level(line: str) -> int:
    """0 for body text; otherwise the heading level (numbered '2.3 Title' -> 2, ALL CAPS -> 1).
    Lines ending in a colon are labels inside a section, not headings."""
    s = line.strip()
    m = _NUMBERED.match(s)
    if m:
        return min(m.group(1).count(".") + 1, 6)
    return 1 if is_heading_line(s) and not s.endswith(":") else 0


def page_blocks(text: str, page: int) -> list[Block]:
    """Rebuild paragraphs from wrapped lines: a line that ends a sentence and is short ends one."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    width = max((len(ln) for ln in lines), default=0)
    blocks: list[Block] = []
    buf: list[str] = []
    kind = "paragraph"

    def flush() -> None:
        nonlocal buf, kind
        if buf:
            blocks.append(Block(kind, clean(" ".join(buf)), page=page))
        buf, kind = [], "paragraph"

    for line in lines:
        if not line.strip():
            flush()
            continue
        level = heading_level(line)
        if level and not buf:
            blocks.append(Block("heading", clean(line), level=level, page=page))
            continue
        if level and buf and buf[-1].endswith(_SENTENCE_END):
            flush()
            blocks.append(Block("heading", clean(line), level=level, page=page))
            continue
        if _BULLET.match(line):
            flush()
            kind = "list_item"
            buf = [_BULLET.sub("", line, count=1)]
            continue
        buf.append(line.strip())
        if line.endswith(_SENTENCE_END) and len(line) < 0.8 * width:
            flush()
    flush()
    return blocks
