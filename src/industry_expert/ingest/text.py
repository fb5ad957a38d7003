"""Plain-text loader: paragraphs split on blank lines, simple heading detection."""

from __future__ import annotations

import re
from pathlib import Path

from industry_expert.ingest.base import Parsed, clean, read_text, require_text, title_from_path
from industry_expert.types import Block

_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def is_heading_line(line: str) -> bool:
    """A short line without sentence punctuation that is ALL CAPS or ends with a colon."""
    s = line.strip()
    if not s or len(s) > 70 or _BULLET.match(s):
        return False
    letters = [c for c in s if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters) and not s.endswith("."):
        return True
    return s.endswith(":") and len(s.split()) <= 8


def paragraphs_to_blocks(paragraphs: list[list[str]]) -> list[Block]:
    blocks: list[Block] = []
    for lines in paragraphs:
        if len(lines) >= 2 and _UNDERLINE.match(lines[1]):
            blocks.append(Block("heading", clean(lines[0]), level=1 if "=" in lines[1] else 2))
            lines = lines[2:]
        elif lines and is_heading_line(lines[0]):
            blocks.append(Block("heading", clean(lines[0]).rstrip(":"), level=2))
            lines = lines[1:]
        item: list[str] = []
        for line in lines:
            if _BULLET.match(line):
                if item:
                    blocks.append(
                        Block("list_item" if _BULLET.match(item[0]) else "paragraph", clean(" ".join(item)))
                    )
                item = [line]
            else:
                item.append(line)
        if item:
            kind = "list_item" if _BULLET.match(item[0]) else "paragraph"
            blocks.append(Block(kind, clean(" ".join(item))))
    return blocks


def split_paragraphs(text: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def load(path: Path) -> list[Parsed]:
    text = read_text(path)
    blocks = require_text(paragraphs_to_blocks(split_paragraphs(text)))
    first = text.strip().splitlines()[0].strip()
    title = first if len(first) <= 80 else title_from_path(path)
    return [Parsed(title=title.rstrip(":"), blocks=blocks)]
