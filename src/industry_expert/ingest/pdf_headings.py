"""Headings of a PDF: from its outline (bookmarks) when it has one, else from typography.

Never a heading: a code or configuration line (monospace, ``=``, ``{``, ``;``, ``/``, ``$``, mostly
digits), a short upper-case fragment, a label ending in a colon, a sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from industry_expert.ingest.pdf_lines import Line, OutlineEntry

_NUMBERING = re.compile(r"^((?:\d+|[A-Z](?=\.))(?:\.\d+){0,5})\.?\s+(?=\S)")
_CODE_CHARS = set("={};/$\\<>|@#`")
_BULLET = re.compile(r"^\s*[-*\u2022\u25aa\u25cf\u2013]\s+")


def norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _unnumbered(text: str) -> str:
    return norm(_NUMBERING.sub("", text.strip()))


def _match(lines: list[Line], start: int, title: str) -> tuple[int, int] | None:
    """(first, end) of the lines from ``start`` on that spell ``title`` (wrapped up to 3 lines)."""
    want = {norm(title), _unnumbered(title)} - {""}
    for i in range(start, len(lines)):
        got = ""
        for j in range(i, min(i + 3, len(lines))):
            got = f"{got} {lines[j].text}".strip()
            if norm(got) in want or _unnumbered(got) in want:
                return i, j + 1
            if not any(w.startswith(norm(got)) or w.startswith(_unnumbered(got)) for w in want):
                break
    return None


def _start_at(lines: list[Line], top: float | None) -> int:
    """The first line at or below a destination's height."""
    if top is None:
        return 0
    return next((i for i, ln in enumerate(lines) if ln.y is not None and ln.y <= top + 2), len(lines))


def place_outline(lines: list[Line], entries: list[OutlineEntry]) -> list[Line]:
    """The page's lines with its outline entries as headings: the line that spells an entry becomes
    the heading (numbering kept); an entry not found on the page is inserted at its height."""
    out = list(lines)
    pos = 0
    for e in entries:
        start = max(pos, _start_at(out, e.top)) if e.top is not None else pos
        found = _match(out, start, e.title) or _match(out, pos, e.title)
        if found:
            i, j = found
            text = " ".join(ln.text.strip() for ln in out[i:j])
            out[i:j] = [replace(out[i], text=text, level=e.level)]
            pos = i + 1
        else:
            at = min(max(pos, _start_at(out, e.top)), len(out))
            out.insert(at, Line(e.title, level=e.level))
            pos = at + 1
    return out


def is_code_like(text: str, mono: bool = False) -> bool:
    """A code, command or configuration line, or one that is mostly numbers."""
    s = _NUMBERING.sub("", text.strip())
    if mono or any(c in _CODE_CHARS for c in s):
        return True
    chars = [c for c in s if not c.isspace()]
    return bool(chars) and sum(c.isdigit() for c in chars) / len(chars) > 0.3


def could_be_heading(text: str, mono: bool = False) -> bool:
    """Whether a line's text may be a heading at all (typography decides whether it is one)."""
    s = text.strip()
    letters = [c for c in s if c.isalpha()]
    if len(letters) < 3 or len(s) > 120 or s[-1] in ".,;:!" or _BULLET.match(s):
        return False
    if is_code_like(s, mono) or not (s[0].isupper() or s[0].isdigit()):
        return False
    words = _NUMBERING.sub("", s).split()
    return not (all(c.isupper() for c in letters) and len(words) <= 3)


def numbering_depth(text: str) -> int:
    m = _NUMBERING.match(text.strip())
    return m.group(1).count(".") + 1 if m else 0


class Typography:
    """Heading levels by font size relative to the body text: larger sizes rank higher; a bold line
    at body size is the deepest level; numbering ('2.3.1') decides when present."""

    def __init__(self, pages: list[list[Line]], body: float) -> None:
        self.body = body
        sizes: Counter[float] = Counter()
        for lines in pages:
            for ln in lines:
                if self._big(ln) and could_be_heading(ln.text, ln.mono):
                    sizes[round(ln.size * 2) / 2] += 1
        self.ranks = {s: r for r, s in enumerate(sorted(sizes, reverse=True)[:4], start=1)}

    def _big(self, ln: Line) -> bool:
        return bool(self.body) and ln.size >= self.body * 1.15

    def level(self, ln: Line) -> int:
        if not self.body or not could_be_heading(ln.text, ln.mono):
            return 0
        depth = numbering_depth(ln.text)
        if self._big(ln):
            rank = self.ranks.get(round(ln.size * 2) / 2, len(self.ranks) + 1)
            return min(depth or rank, 6)
        if ln.bold and ln.size >= self.body * 0.95 and (depth or len(ln.text.split()) >= 2):
            return min(depth or len(self.ranks) + 1, 6)
        return 0

    def mark(self, lines: list[Line]) -> list[Line]:
        """Heading levels set; a heading wrapped over consecutive lines of one style is merged."""
        out: list[Line] = []
        for ln in lines:
            lv = self.level(ln)
            prev = out[-1] if out else None
            if (
                lv
                and prev
                and prev.level
                and (prev.size, prev.bold) == (ln.size, ln.bold)
                and not numbering_depth(ln.text)
            ):
                out[-1] = replace(prev, text=f"{prev.text.strip()} {ln.text.strip()}")
                continue
            out.append(replace(ln, level=lv))
        return out


def text_levels(lines: list[Line]) -> list[Line]:
    """Without font information: numbered title-like lines only ('2.3 Title')."""
    out = []
    for ln in lines:
        depth = numbering_depth(ln.text)
        title = bool(re.match(r"^[\d.]+\s+[A-Z][^.!?]{1,70}$", ln.text.strip()))
        ok = depth and title and could_be_heading(ln.text, ln.mono)
        out.append(replace(ln, level=min(depth, 6) if ok else 0))
    return out
