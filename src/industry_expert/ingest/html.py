"""HTML loader (BeautifulSoup): headings, paragraphs, list items and tables; boilerplate dropped."""

from __future__ import annotations

from pathlib import Path

from industry_expert.ingest.base import Parsed, clean, read_text, require_text, title_from_path
from industry_expert.types import Block

_DROP = ["script", "style", "nav", "footer", "header", "aside", "form", "noscript", "template"]
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_TEXT_TAGS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "caption"}


def load(path: Path) -> list[Parsed]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(path), "html.parser")
    page_title = clean(soup.title.get_text()) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[Block] = []
    for el in root.find_all(list(_HEADINGS) + list(_TEXT_TAGS) + ["table", "div"]):
        if el.find_parent(["table", "li", "p", "pre", "blockquote"]):
            continue  # nested inside a block already taken whole
        if el.name == "div":
            if el.find(list(_HEADINGS) + list(_TEXT_TAGS) + ["table", "div"]) is None:
                text = clean(el.get_text(" "))
                if text:
                    blocks.append(Block("paragraph", text))
        elif el.name in _HEADINGS:
            blocks.append(Block("heading", clean(el.get_text(" ")), level=_HEADINGS[el.name]))
        elif el.name == "table":
            blocks.extend(_table(el))
        else:
            text = clean(el.get_text(" "))
            if text:
                blocks.append(Block("list_item" if el.name == "li" else "paragraph", text))
    blocks = require_text(blocks)
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return [
        Parsed(
            title=h1 or page_title or title_from_path(path),
            blocks=blocks,
            metadata={"page_title": page_title} if page_title else {},
        )
    ]


def _table(el) -> list[Block]:  # type: ignore[no-untyped-def]
    rows = [[clean(c.get_text(" ")) for c in tr.find_all(["th", "td"])] for tr in el.find_all("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) == 1:
        return [Block("paragraph", " | ".join(rows[0]))]
    return [Block("table", "", header=rows[0], rows=rows[1:])]
