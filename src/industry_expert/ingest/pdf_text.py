"""Clean PDF text: running headers and footers, contents lines, continuation markers, ligatures,
words hyphenated at line ends (real hyphens kept), URLs broken across lines."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from industry_expert.ingest.pdf_lines import Line

LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"})
_MARKER = re.compile(r"(\s*)(?:\u2190-|\u2190|\u21a9|\u21b5|\u23ce|\u2936)\s*$")
_ROMAN = re.compile(r"\b[ivxlc]{1,6}\b")
_LEADERS = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlc]+)\s*$", re.I)
_TRAILING_NUMBER = re.compile(r"\s*(?:\d+|[ivxlc]+)\s*$", re.I)
_HYPHEN_END = re.compile(r"(\S*?)([A-Za-z0-9]+)(-|\xad)$")
_WORD_START = re.compile(r"^([A-Za-z0-9]+)")
_URL_TAIL = re.compile(r"(?:https?://|www\.)\S*$")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def shape(line: str) -> str:
    """A line with its numbers (page numbers, chapter numbers) made equal."""
    return _ROMAN.sub("#", re.sub(r"\d+", "#", " ".join(line.split())).lower())


def _edges(lines: list[Line], edge: int) -> list[tuple[int, str]]:
    """(index, side) of the first and last ``edge`` non-blank lines."""
    idx = [i for i, ln in enumerate(lines) if ln.text.strip()]
    top = [(i, "top") for i in idx[:edge]]
    return top + [(i, "bottom") for i in idx[-edge:] if i not in idx[:edge]]


def strip_running(pages: list[list[Line]], edge: int = 3) -> list[list[Line]]:
    """Drop running headers and footers: lines at a page's top or bottom whose shape (numbers
    ignored) recurs at the same edge of several pages (half of a short document's, three of a
    longer one's)."""
    if len(pages) < 2:
        return pages
    counts: dict[tuple[str, str], int] = {}
    for lines in pages:
        for key in {(side, shape(lines[i].text)) for i, side in _edges(lines, edge)}:
            counts[key] = counts.get(key, 0) + 1
    need = max(2, min(3, math.ceil(len(pages) / 2)))
    running = {k for k, n in counts.items() if n >= need}
    out = []
    for lines in pages:
        drop = {i for i, side in _edges(lines, edge) if (side, shape(lines[i].text)) in running}
        out.append([ln for i, ln in enumerate(lines) if i not in drop])
    return out


_HEADER_WORDS = {"chapter", "appendix", "part", "section", "page", "of"}
_LEAD_NUMBER = re.compile(r"^\s*(?:\d+|[A-Z])(?:\.\d+)*\.?\s+")


def title_words(text: str) -> str:
    """A title's words without numbers (the key running headers are matched on)."""
    return " ".join(
        w for w in re.findall(r"[a-z0-9]+", text.lower()) if not w.isdigit() and not _ROMAN.fullmatch(w)
    )


def _titles_cover(words: list[str], titles: set[str]) -> int:
    """How many titles (at most two) spell ``words`` end to end; 0 if they do not."""
    if " ".join(words) in titles:
        return 1
    for k in range(1, len(words)):
        if " ".join(words[:k]) in titles and " ".join(words[k:]) in titles:
            return 2
    return 0


def is_title_header(text: str, titles: set[str]) -> bool:
    """A running header made of section titles: 'CHAPTER 3. TOOL SETUPS 3.5. DEVSCRIPTS',
    '14 Chapter 2. Installation', '2.3 Wiring 15' (a heading alone, '2.3 Wiring', is not one)."""
    words = title_words(text).split()
    core = [w for w in words if w not in _HEADER_WORDS]
    n = _titles_cover(core, titles) if core else 0
    if not n:
        return False
    labelled = len(core) < len(words)
    extra_number = bool(re.search(r"\d", _LEAD_NUMBER.sub("", text.strip())))
    return n == 2 or labelled or extra_number


def strip_title_headers(lines: list[Line], titles: set[str], edge: int = 2) -> list[Line]:
    """Drop running headers that name the chapter or section (they differ from page to page, so
    ``strip_running`` cannot see them recur) among a page's first and last lines."""
    if not titles:
        return lines
    idx = [i for i, ln in enumerate(lines) if ln.text.strip() and not ln.level]
    edges = set(idx[:edge] + idx[-edge:])
    return [ln for i, ln in enumerate(lines) if not (i in edges and is_title_header(ln.text, titles))]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def is_contents_line(text: str, titles: set[str]) -> bool:
    """A table-of-contents line: dot leaders to a page number, or an outline title and a number."""
    s = text.strip()
    if _LEADERS.search(s):
        return True
    if not titles or not _TRAILING_NUMBER.search(s):
        return False
    head = _norm(_TRAILING_NUMBER.sub("", s))
    return head in titles or re.sub(r"^[\d ]+", "", head) in titles


_PAGE_REF = re.compile(r"[\s,.]\d{1,4}\s*$")


def drop_contents(lines: list[Line], titles: set[str]) -> list[Line]:
    """Lines of a table of contents go; on a contents or index page (most of its lines end in a
    page number: 'multiplot, 55, 89, 172'), every such line goes: they repeat every title and term
    of the document and would answer every query."""
    kept = [ln for ln in lines if not is_contents_line(ln.text, titles)]
    refs = [bool(_PAGE_REF.search(ln.text.rstrip())) for ln in kept]
    if sum(refs) >= 10 and sum(refs) >= 0.5 * sum(1 for ln in kept if ln.text.strip()):
        kept = [ln for ln, ref in zip(kept, refs) if not ref]
    return kept


def fix_text(lines: list[Line]) -> list[Line]:
    """Ligatures spelled out; a line that ends in a continuation marker joined to the next."""
    out: list[Line] = []
    glue: str | None = None
    for ln in lines:
        text = ln.text.translate(LIGATURES).replace("\u00a0", " ")
        if glue is not None and out:
            out[-1] = replace(out[-1], text=out[-1].text + glue + text.lstrip(), cells=())
        else:
            out.append(replace(ln, text=text))
        m = _MARKER.search(out[-1].text)
        glue = None
        if m:
            out[-1] = replace(out[-1], text=out[-1].text[: m.start()])
            glue = " " if m.group(1) else ""
    return out


@dataclass
class Vocabulary:
    """The document's own words: decides whether a line-end hyphen is part of the word."""

    words: set[str] = field(default_factory=set)
    hyphenated: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, texts: list[str]) -> Vocabulary:
        v = cls()
        for text in texts:
            body = _HYPHEN_END.sub("", text.rstrip())  # a word cut at the line end is not a word
            for tok in _TOKEN.findall(body.translate(LIGATURES)):
                (v.hyphenated if "-" in tok else v.words).add(tok.lower())
        return v


def _is_code(word: str) -> bool:
    return any(c.isdigit() for c in word[-1:]) or (len(word) >= 2 and word.isupper())


def join_lines(left: str, right: str, vocab: Vocabulary) -> str:
    """Two wrapped lines as one: a hyphenated word rejoined, a real hyphen kept, a URL unbroken."""
    right = right.strip()
    left = left.rstrip()
    m = _HYPHEN_END.search(left)
    w = _WORD_START.match(right)
    if m and w:
        return left[: m.start(3)] + _hyphen(m.group(2), m.group(3), w.group(1), vocab) + right
    if left.endswith(("/-", "/\xad")) and right[:1].isalnum():
        return left[:-1] + right  # a path broken after a slash, marked with a hyphen
    url = _URL_TAIL.search(left)
    if url and (left[-1] in "/._-?&=#" or ("/" in right.split(" ")[0] and not right[:1].isupper())):
        return (left[:-1] if left.endswith(("/-", ".-")) else left) + right  # a break mark, not a hyphen
    return f"{left} {right}" if left else right


def _hyphen(before: str, mark: str, after: str, vocab: Vocabulary) -> str:
    """'' to join the word, '-' to keep its hyphen."""
    if mark == "\xad":
        return ""
    if _is_code(before) or not after[0].islower():
        return "-"
    joined, kept = (before + after).lower(), f"{before}-{after}".lower()
    if kept in vocab.hyphenated and joined not in vocab.words:
        return "-"
    return ""
