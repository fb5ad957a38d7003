"""Registry: file extension -> (format name, loader). Loader modules import lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from industry_expert.errors import UnsupportedFormatError
from industry_expert.ingest.base import Parsed

# extension -> (format name, "module:function")
FORMATS: dict[str, tuple[str, str]] = {
    ".md": ("markdown", "markdown:load"),
    ".markdown": ("markdown", "markdown:load"),
    ".html": ("html", "html:load"),
    ".htm": ("html", "html:load"),
    ".docx": ("docx", "docx:load"),
    ".pdf": ("pdf", "pdf:load"),
    ".txt": ("text", "text:load"),
    ".text": ("text", "text:load"),
    ".csv": ("csv", "tables:load_csv"),
    ".tsv": ("csv", "tables:load_csv"),
    ".xlsx": ("xlsx", "tables:load_xlsx"),
    ".json": ("json", "records:load_json"),
    ".jsonl": ("jsonl", "records:load_jsonl"),
    ".ndjson": ("jsonl", "records:load_jsonl"),
    ".db": ("sqlite", "sqlite:load"),
    ".sqlite": ("sqlite", "sqlite:load"),
    ".sqlite3": ("sqlite", "sqlite:load"),
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def format_of(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()][0]
    except KeyError:
        supported = ", ".join(sorted({ext for ext in FORMATS}))
        raise UnsupportedFormatError(
            f"unsupported format '{path.suffix or path.name}' (supported: {supported})"
        ) from None


def loader_for(path: Path) -> Callable[[Path], list[Parsed]]:
    format_of(path)  # raises for unsupported types
    module, func = FORMATS[path.suffix.lower()][1].split(":")
    mod = importlib.import_module(f"industry_expert.ingest.{module}")
    return getattr(mod, func)  # type: ignore[no-any-return]
