"""Structure-aware chunking as pure functions: sections, token budgets, overlap, table row groups.

Every chunk fits two budgets: ``max_tokens`` counted with the embedder's own tokenizer when the
pipeline passes one (an approximate word-piece count otherwise) and ``max_chars``. A sentence, table
row or single "word" (an inline base64 image, a 50,000-column row) over budget is split, never kept
as one giant chunk; with ``window`` given, the embedded text (section path + text) never exceeds the
embedder's window, so nothing is silently truncated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from industry_expert.config import ChunkSettings
from industry_expert.text import split_sentences
from industry_expert.types import Block, Chunk

Counter = Callable[[str], int]

_PIECE = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
_DATA_URI = re.compile(r"data:[\w/+.\-]+;base64,[A-Za-z0-9+/=\s]{64,}")
_SPECIAL_TOKENS = 2  # [CLS] ... [SEP]: inside the embedder's window
DEFAULT_MAX_CHARS = 4000


def count_tokens(text: str) -> int:
    """Approximate word-piece count (BERT-like tokenizers split digits, punctuation, long words)."""
    return sum(1 + len(p) // 9 for p in _PIECE.findall(text))


@dataclass(frozen=True)
class Budget:
    """How much one chunk may hold: tokens (by ``count``) and characters."""

    tokens: int
    chars: int = DEFAULT_MAX_CHARS
    count: Counter = count_tokens

    def fits(self, text: str) -> bool:
        return len(text) <= self.chars and self.count(text) <= self.tokens


def _cut_word(word: str, b: Budget) -> Iterator[str]:
    """Slices of one over-long "word" that each fit the budget."""
    if b.fits(word):
        yield word
        return
    size, start = min(len(word), b.chars), 0
    while start < len(word):
        piece = word[start : start + size]
        while size > 1 and b.count(piece) > b.tokens:
            size //= 2
            piece = word[start : start + size]
        yield piece
        start += len(piece)


def split_to_fit(text: str, b: Budget) -> list[str]:
    """Cut text over budget at sentence, then word, then character boundaries."""
    if b.fits(text):
        return [text]
    pieces: list[str] = []
    for sentence in split_sentences(text) or [text]:
        if b.fits(sentence):
            pieces.append(sentence)
            continue
        cur: list[str] = []
        cur_tokens = cur_chars = 0
        for word in sentence.split():
            for part in _cut_word(word, b):
                n = b.count(part)
                if cur and (cur_tokens + n > b.tokens or cur_chars + 1 + len(part) > b.chars):
                    pieces.append(" ".join(cur))
                    cur, cur_tokens, cur_chars = [], 0, -1
                cur.append(part)
                cur_tokens += n
                cur_chars += 1 + len(part)
        if cur:
            pieces.append(" ".join(cur))
    return pieces


def _tail(units: list[str], overlap: int, count: Counter = count_tokens) -> list[str]:
    """The carried-over context: the last whole units that fit in the overlap budget, or else the
    last words of the final unit (marked with a leading ellipsis)."""
    out: list[str] = []
    total = 0
    for unit in reversed(units):
        total += count(unit)
        if total > overlap:
            break
        out.insert(0, unit)
    if out or not units or overlap <= 0:
        return out
    words: list[str] = []
    used = 0
    for word in reversed(units[-1].split()[-overlap:]):
        used += count(word)
        if used > overlap - 1:
            break
        words.insert(0, word)
    return ["\u2026 " + " ".join(words)] if words else []


def pack(
    units: list[str],
    budget: int,
    overlap: int,
    count: Counter = count_tokens,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[str]:
    """Greedily pack text units (each within budget) into chunks of at most ``budget`` tokens and
    ``max_chars`` characters, with overlap. Token counts are summed per unit (joined by newlines)."""
    chunks: list[str] = []
    cur: list[str] = []
    fresh = 0  # units in cur that are not overlap
    count = functools.lru_cache(maxsize=4096)(count)

    def fits(extra: str) -> bool:
        chars = sum(len(u) + 1 for u in cur) + len(extra)
        return chars <= max_chars and sum(map(count, cur)) + count(extra) <= budget

    for unit in units:
        if cur and fresh and not fits(unit):
            chunks.append("\n".join(cur))
            cur = _tail(cur, overlap, count)
            if not fits(unit):  # overlap never makes room for nothing
                cur = []
            fresh = 0
        cur.append(unit)
        fresh += 1
    if cur and fresh:
        chunks.append("\n".join(cur))
    return chunks


def render_row(header: list[str], row: list[str]) -> str:
    return " | ".join(f"{h}: {v}" for h, v in zip(header, row) if v != "")


def _row_pieces(header: list[str], row: list[str], b: Budget) -> list[str]:
    """One row as one line, or (a row over budget) as column groups that each fit."""
    line = render_row(header, row)
    if b.fits(line):
        return [line]
    pairs = [p for h, v in zip(header, row) if v != "" for p in split_to_fit(f"{h}: {v}", b)]
    return pack(pairs, b.tokens, 0, b.count, b.chars) if pairs else []


def table_groups(
    header: list[str], rows: list[list[str]], s: ChunkSettings, b: Budget | None = None
) -> Iterator[tuple[int, int, str]]:
    """Groups of rows (first row no., last row no., text); every group names the columns."""
    b = b or Budget(s.max_tokens, getattr(s, "max_chars", DEFAULT_MAX_CHARS))
    start, lines, used, chars = 0, list[str](), 0, 0
    for i, row in enumerate(rows):
        pieces = _row_pieces(header, row, b)
        if len(pieces) > 1:  # a giant row: its column groups are chunks of their own
            if lines:
                yield start + 1, i, "\n".join(lines)
            for piece in pieces:
                yield i + 1, i + 1, piece
            start, lines, used, chars = i + 1, [], 0, 0
            continue
        if not pieces:
            continue
        line, n = pieces[0], b.count(pieces[0])
        if lines and (
            len(lines) >= s.table_rows_max or used + n > b.tokens or chars + len(line) + 1 > b.chars
        ):
            yield start + 1, i, "\n".join(lines)
            start, lines, used, chars = i, [], 0, 0
        lines.append(line)
        used, chars = used + n, chars + len(line) + 1
    if lines:
        yield start + 1, len(rows), "\n".join(lines)


class _Sections:
    """Tracks the heading path; a level-1 heading equal to the title is not repeated."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.stack: list[tuple[int, str]] = []

    def enter(self, level: int, text: str) -> None:
        self.stack = [(lv, t) for lv, t in self.stack if lv < level]
        if not (not self.stack and text.strip().lower() == self.title.strip().lower()):
            self.stack.append((level, text))

    @property
    def path(self) -> str:
        return " > ".join([self.title] + [t for _, t in self.stack])


def _fit_section(path: str, count: Counter, limit: int) -> str:
    """A section path short enough to leave most of the window to the text."""
    if count(path) <= limit:
        return path
    cut = path[: limit * 2]
    while cut and count(cut + "\u2026") > limit:
        cut = cut[: len(cut) * 3 // 4]
    return cut + "\u2026"


class _Chunker:
    def __init__(self, doc_id: str, title: str, s: ChunkSettings, count: Counter, window: int | None) -> None:
        self.doc_id, self.s, self.count, self.window = doc_id, s, count, window
        self.sections = _Sections(title)
        self.chunks: list[Chunk] = []
        self.pending: list[Block] = []
        self.max_chars = getattr(s, "max_chars", DEFAULT_MAX_CHARS)

    def section(self) -> str:
        path = self.sections.path
        return _fit_section(path, self.count, self.window // 3) if self.window else path

    def budget(self) -> Budget:
        tokens = self.s.max_tokens
        if self.window:  # "section\ntext" plus the special tokens must fit the window
            tokens = min(tokens, self.window - _SPECIAL_TOKENS - self.count(self.section()) - 1)
        return Budget(max(tokens, 8), self.max_chars, self.count)

    def emit(self, text: str, page: int | None, meta: dict | None = None) -> None:
        section, b = self.section(), self.budget()
        for piece in [text] if b.fits(text) else split_to_fit(text, b):  # a last guard
            self.chunks.append(Chunk(self.doc_id, len(self.chunks), piece, section, page, dict(meta or {})))

    def flush(self) -> None:
        if not self.pending:
            return
        b = self.budget()
        units: list[tuple[str, int | None]] = []
        for block in self.pending:
            prefix = "- " if block.kind == "list_item" else ""
            units.extend((prefix + p, block.page) for p in split_to_fit(_clean(block.text), b))
        page_of = {u: p for u, p in units}
        for text in pack([u for u, _ in units], b.tokens, self.s.overlap_tokens, self.count, b.chars):
            self.emit(text, page_of.get(text.split("\n", 1)[0], self.pending[0].page))
        self.pending.clear()

    def block(self, block: Block) -> None:
        if block.kind == "heading":
            self.flush()
            self.sections.enter(block.level, _clean(block.text)[:300])
        elif block.kind == "table":
            self.flush()
            rows = [[_clean(c) for c in r] for r in block.rows or []]
            for first, last, text in table_groups(block.header or [], rows, self.s, self.budget()):
                self.emit(text, block.page, {"rows": f"{first}-{last}"})
        elif block.kind == "record":
            self.flush()
            self.sections.enter(2, (block.header or ["record"])[0][:300])
            b = self.budget()
            lines = [p for line in _clean_lines(block.text) for p in split_to_fit(line, b)]
            for piece in pack(lines, b.tokens, self.s.overlap_tokens, self.count, b.chars):
                self.emit(piece, block.page, block.meta)
        else:
            if self.pending and block.page != self.pending[-1].page:
                self.flush()  # a chunk never crosses a page: its page is the page of every sentence
            self.pending.append(block)


def _clean(text: str) -> str:
    """Inline data (base64 images) carries no meaning for search: replaced by a marker."""
    return _DATA_URI.sub("[embedded data]", text) if "base64," in text else text


def _clean_lines(text: str) -> list[str]:
    return _clean(text).split("\n")


def chunk_blocks(
    doc_id: str,
    title: str,
    blocks: list[Block],
    s: ChunkSettings,
    base_meta: dict | None = None,
    count: Counter | None = None,
    window: int | None = None,
) -> list[Chunk]:
    """Cut a document's blocks into chunks that never cross a section boundary or a page break.
    ``count`` is the embedder's token counter and ``window`` its input limit in tokens (special
    tokens included)."""
    chunker = _Chunker(doc_id, title, s, functools.lru_cache(maxsize=65536)(count or count_tokens), window)
    for block in blocks:
        chunker.block(block)
    chunker.flush()
    if base_meta:
        for c in chunker.chunks:
            c.metadata = {**base_meta, **c.metadata}
    return chunker.chunks
