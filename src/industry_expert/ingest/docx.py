"""Word (.docx) loader (python-docx): Heading styles, list paragraphs and tables, in body order."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed, clean, require_text, title_from_path
from industry_expert.types import Block

_HEADING = re.compile(r"^Heading (\d)$")


def load(path: Path) -> list[Parsed]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise LoadError(f"not a valid .docx file ({exc.__class__.__name__})") from exc
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = [[clean(c.text) for c in r.cells] for r in item.rows]
            if len(rows) >= 2:
                blocks.append(Block("table", "", header=rows[0], rows=rows[1:]))
            continue
        text = clean(item.text)
        if not text:
            continue
        style = item.style.name if item.style is not None else ""
        m = _HEADING.match(style)
        if style == "Title":
            blocks.append(Block("heading", text, level=1))
        elif m:
            blocks.append(Block("heading", text, level=int(m.group(1))))
        elif style.startswith("List") or item._p.pPr is not None and item._p.pPr.numPr is not None:
            blocks.append(Block("list_item", text))
        else:
            blocks.append(Block("paragraph", text))
    blocks = require_text(blocks)
    core_title = clean(document.core_properties.title or "")
    first_heading = next((b.text for b in blocks if b.kind == "heading"), "")
    return [Parsed(title=core_title or first_heading or title_from_path(path), blocks=blocks)]
