"""Markdown loader (markdown-it-py tokens -> blocks)."""

from __future__ import annotations

from pathlib import Path

from industry_expert.ingest.base import Parsed, clean, read_text, require_text, title_from_path
from industry_expert.types import Block


def load(path: Path) -> list[Parsed]:
    from markdown_it import MarkdownIt

    text = read_text(path)
    if text.startswith("---\n"):  # YAML front matter is metadata, not prose
        end = text.find("\n---", 4)
        text = text[end + 4 :] if end > 0 else text
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block] = []
    in_list = 0
    heading_level = 0
    table: list[list[str]] = []
    row: list[str] = []
    prev = ""
    for tok in tokens:
        t, prev_type, prev = tok.type, prev, tok.type
        if t == "heading_open":
            heading_level = int(tok.tag[1])
        elif t in ("bullet_list_open", "ordered_list_open"):
            in_list += 1
        elif t in ("bullet_list_close", "ordered_list_close"):
            in_list -= 1
        elif t == "tr_open":
            row = []
        elif t == "tr_close":
            table.append(row)
        elif t == "table_close":
            if table:
                blocks.append(Block("table", "", header=table[0], rows=table[1:]))
            table = []
        elif t in ("fence", "code_block") and tok.content.strip():
            blocks.append(Block("paragraph", tok.content.strip()))
        elif t == "inline":
            content = clean(tok.content)
            if prev_type in ("th_open", "td_open"):
                row.append(content)
            elif heading_level:
                blocks.append(Block("heading", content, level=heading_level))
                heading_level = 0
            elif content:
                blocks.append(Block("list_item" if in_list else "paragraph", content))
    blocks = require_text(blocks)
    title = next((b.text for b in blocks if b.kind == "heading"), title_from_path(path))
    return [Parsed(title=title, blocks=blocks)]
