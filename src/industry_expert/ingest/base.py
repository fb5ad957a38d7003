"""What a loader returns, and helpers every loader shares."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError
from industry_expert.types import Block


@dataclass
class Parsed:
    """One document found in a file (a file usually holds one; a database one per table)."""

    title: str
    blocks: list[Block]
    part: str = ""  # distinguishes several documents in one file (e.g. a table name)
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None  # None: the file's hash is the document's hash
    warnings: list[str] = field(default_factory=list)  # read, with something the user should know


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (or BOM-marked UTF-16) text; refuse binary or undecodable bytes."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    if b"\x00" in data[:8192]:
        raise LoadError("binary content in a text file (NUL bytes found)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoadError(
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, offset {exc.start})"
        ) from exc


def read_text(path: Path) -> str:
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise LoadError("empty file (no text)")
    return text


def title_from_path(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def clean(text: str) -> str:
    """Collapse runs of whitespace."""
    return " ".join(text.split())


def require_text(blocks: list[Block]) -> list[Block]:
    """Refuse a document with no text at all, rather than ingesting nothing silently."""
    kept = [b for b in blocks if b.text.strip() or b.rows]
    if not kept:
        raise LoadError("no extractable text")
    return kept
