"""HTML loader (BeautifulSoup): headings, paragraphs, list items and tables; boilerplate dropped."""

from __future__ import annotations

from pathlib import Path

from industry_expert.ingest.base import Parsed, clean, read_text, require_text, title_from_path
from industry_expert.types import Block

_DROP = ["script", "style", "nav", "footer", "header", "aside", "form", "noscript", "template"]
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_TEXT_TAGS = {"p", "li", "pre", "blockquote", "dt", "dd", "figcaption", "caption", "summary"}
# inline elements: their text joins the loose text around them (unless they wrap a block)
_INLINE = {
    "a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "data", "del", "dfn", "em", "i", "img", "ins",
    "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr",
}  # fmt: skip
_BLOCK_TAGS = [
    *_HEADINGS,
    *_TEXT_TAGS,
    "table",
    "div",
    "section",
    "article",
    "main",
    "ul",
    "ol",
    "dl",
    "details",
]


def load(path: Path) -> list[Parsed]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(path), "html.parser")
    page_title = clean(soup.title.get_text()) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    blocks: list[Block] = []
    for root in _roots(soup):
        blocks.extend(_blocks(root))
    blocks = require_text(blocks)
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return [
        Parsed(
            title=h1 or page_title or title_from_path(path),
            blocks=blocks,
            metadata={"page_title": page_title} if page_title else {},
        )
    ]


def _roots(soup):  # type: ignore[no-untyped-def]
    """Every ``main`` and ``article`` (outermost first, none inside another), else the body: a
    page with several articles keeps them all."""
    marked = [el for el in soup.find_all(["main", "article"]) if el.find_parent(["main", "article"]) is None]
    return marked or [soup.body or soup]


def _blocks(root) -> list[Block]:  # type: ignore[no-untyped-def]
    """Blocks in document order. Headings, tables and text elements (p, li, pre, ...) are taken
    whole; containers (div, section, details, ul, ...) are walked; text that sits loose in a
    container, or in inline elements beside the blocks, becomes a paragraph of its own. Walked
    with an explicit stack: a deeply nested page cannot exhaust Python's recursion limit."""
    from bs4 import NavigableString, Tag

    out: list[Block] = []
    loose: list[str] = []
    holds = _holding_blocks(root)
    stack = [iter(root.children)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            _flush(loose, out)
        elif isinstance(node, Tag) and (node.name not in _INLINE or id(node) in holds):
            _flush(loose, out)
            if node.name in _HEADINGS or node.name in _TEXT_TAGS or node.name == "table":
                out.extend(_taken_whole(node))
            else:
                stack.append(iter(node.children))
        elif isinstance(node, Tag):
            loose.append(node.get_text(" "))
        elif type(node) is NavigableString:  # not comments, doctypes or CDATA
            loose.append(str(node))
    return out


def _holding_blocks(root) -> set[int]:  # type: ignore[no-untyped-def]
    """The ids of the elements that hold a block element, found in one pass (asking each inline
    element with ``find`` costs time quadratic in its nesting: stray close tags let a 300 KB page
    nest thousands of spans)."""
    marked: set[int] = set()
    for el in root.find_all(_BLOCK_TAGS):
        parent = el.parent
        while parent is not None and id(parent) not in marked:  # its ancestors are marked too
            marked.add(id(parent))
            parent = parent.parent
    return marked


def _flush(loose: list[str], out: list[Block]) -> None:
    text = clean(" ".join(loose))
    loose.clear()
    if text:
        out.append(Block("paragraph", text))


def _taken_whole(el) -> list[Block]:  # type: ignore[no-untyped-def]
    if el.name in _HEADINGS:
        text = clean(el.get_text(" "))
        return [Block("heading", text, level=_HEADINGS[el.name])] if text else []
    if el.name == "table":
        return _table(el)
    text = clean(el.get_text(" "))
    return [Block("list_item" if el.name == "li" else "paragraph", text)] if text else []


def _table(el) -> list[Block]:  # type: ignore[no-untyped-def]
    rows = [[clean(c.get_text(" ")) for c in tr.find_all(["th", "td"])] for tr in el.find_all("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) == 1:
        return [Block("paragraph", " | ".join(rows[0]))]
    return [Block("table", "", header=rows[0], rows=rows[1:])]
