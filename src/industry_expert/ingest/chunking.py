"""Structure-aware chunking as pure functions: sections, token budgets, overlap, table row groups."""

from __future__ import annotations

import re
from collections.abc import Iterator

from industry_expert.config import ChunkSettings
from industry_expert.types import Block, Chunk

_PIECE = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"'(\[])")


def count_tokens(text: str) -> int:
    """Approximate word-piece count (BERT-like tokenizers split digits, punctuation, long words)."""
    return sum(1 + len(p) // 9 for p in _PIECE.findall(text))


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def _split_long(text: str, budget: int) -> list[str]:
    """Cut text over budget at sentence, then word boundaries."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if count_tokens(sentence) <= budget:
            pieces.append(sentence)
            continue
        words, cur = sentence.split(), list[str]()
        for word in words:
            if cur and count_tokens(" ".join([*cur, word])) > budget:
                pieces.append(" ".join(cur))
                cur = []
            cur.append(word)
        if cur:
            pieces.append(" ".join(cur))
    return pieces


def _tail(units: list[str], overlap: int) -> list[str]:
    """The carried-over context: the last whole units that fit in the overlap budget, or else the
    last words of the final unit (marked with a leading ellipsis)."""
    out: list[str] = []
    total = 0
    for unit in reversed(units):
        total += count_tokens(unit)
        if total > overlap:
            break
        out.insert(0, unit)
    if out or not units or overlap <= 0:
        return out
    words: list[str] = []
    for word in reversed(units[-1].split()):
        if count_tokens(" ".join([word, *words])) > overlap - 1:
            break
        words.insert(0, word)
    return ["\u2026 " + " ".join(words)] if words else []


def pack(units: list[str], budget: int, overlap: int) -> list[str]:
    """Greedily pack text units into chunks of at most ``budget`` tokens, with overlap."""
    chunks: list[str] = []
    cur: list[str] = []
    fresh = 0  # units in cur that are not overlap
    for unit in units:
        if cur and fresh and count_tokens("\n".join([*cur, unit])) > budget:
            chunks.append("\n".join(cur))
            cur = _tail(cur, overlap)
            # overlap never makes room for nothing: drop it when the next unit would not fit
            if count_tokens("\n".join([*cur, unit])) > budget:
                cur = []
            fresh = 0
        cur.append(unit)
        fresh += 1
    if cur and fresh:
        chunks.append("\n".join(cur))
    return chunks


def render_row(header: list[str], row: list[str]) -> str:
    return " | ".join(f"{h}: {v}" for h, v in zip(header, row) if v != "")


def table_groups(
    header: list[str], rows: list[list[str]], s: ChunkSettings
) -> Iterator[tuple[int, int, str]]:
    """Groups of rows (first row no., last row no., text); every group names the columns."""
    start, lines = 0, list[str]()
    for i, row in enumerate(rows):
        line = render_row(header, row)
        if lines and (
            len(lines) >= s.table_rows_max or count_tokens("\n".join([*lines, line])) > s.max_tokens
        ):
            yield start + 1, i, "\n".join(lines)
            start, lines = i, []
        lines.append(line)
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


def chunk_blocks(
    doc_id: str, title: str, blocks: list[Block], s: ChunkSettings, base_meta: dict | None = None
) -> list[Chunk]:
    """Cut a document's blocks into chunks that never cross a section boundary."""
    sections = _Sections(title)
    chunks: list[Chunk] = []
    pending: list[Block] = []
    meta0 = dict(base_meta or {})

    def emit(text: str, page: int | None, extra: dict | None = None) -> None:
        meta = {**meta0, **(extra or {})}
        chunks.append(Chunk(doc_id, len(chunks), text, sections.path, page, meta))

    def flush() -> None:
        if not pending:
            return
        units: list[tuple[str, int | None]] = []
        for b in pending:
            parts = [b.text] if count_tokens(b.text) <= s.max_tokens else _split_long(b.text, s.max_tokens)
            prefix = "- " if b.kind == "list_item" else ""
            units.extend((prefix + p, b.page) for p in parts)
        page_of = {u: p for u, p in units}
        for text in pack([u for u, _ in units], s.max_tokens, s.overlap_tokens):
            first = text.split("\n", 1)[0]
            emit(text, page_of.get(first, pending[0].page))
        pending.clear()

    for block in blocks:
        if block.kind == "heading":
            flush()
            sections.enter(block.level, block.text)
        elif block.kind == "table":
            flush()
            for first, last, text in table_groups(block.header or [], block.rows or [], s):
                emit(text, block.page, {"rows": f"{first}-{last}"})
        elif block.kind == "record":
            flush()
            sections.enter(2, (block.header or ["record"])[0])
            for piece in pack(block.text.split("\n"), s.max_tokens, s.overlap_tokens):
                emit(piece, block.page, block.meta)
        else:
            pending.append(block)
    flush()
    return chunks
