"""Checks that bound the work one file can cause, run before its parser sees it.

Each refusal names the budget (the settings key) so the user knows what to raise:
- ``ingest.max_unpacked_mb``: bytes after decompression of a zip-based file (.docx, .xlsx, .pptx),
  counted while streaming every member, before any XML is parsed (a 1.6 MB "zip bomb" can expand
  to gigabytes);
- ``ingest.max_depth``: nesting depth of HTML/XML elements and JSON arrays/objects (parsers take
  time quadratic in depth, or recurse until they crash);
- ``ingest.max_chunks_per_file``: chunks one file may give. The parser refuses a file whose text
  cannot fit (a 40 MB JSON string) before handing it over, so it never reaches the main process;
  the pipeline checks the exact count after chunking.
The time and memory budgets (``ingest.max_seconds_per_file``, ``ingest.max_parse_mb``) are enforced
by running the parser in a child process (``worker.py``).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError

ZIP_FORMATS = {"docx", "xlsx", "pptx"}
_READ = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The per-file budgets (from ``IngestSettings``), plain so a child process can receive them."""

    max_unpacked_mb: float = 256.0
    max_depth: int = 256
    max_seconds_per_file: float = 60.0
    max_parse_mb: float = 2048.0
    max_chunks_per_file: int = 20_000
    chunk_chars: int = 4000  # the KB's chunking budgets, for the estimate of ``check_output``
    chunk_tokens: int = 200

    @classmethod
    def from_settings(cls, ingest: object) -> Limits:
        return cls(**{k: getattr(ingest, k) for k in cls.__dataclass_fields__ if hasattr(ingest, k)})


def check_zip(path: Path, max_mb: float) -> None:
    """Stream-decompress every member and refuse the file once the total passes ``max_mb``."""
    limit = int(max_mb * 1024 * 1024)
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.file_size > limit - total:  # the declared size already says no
                    raise _too_big(max_mb)
                with zf.open(info) as member:
                    while block := member.read(_READ):
                        total += len(block)
                        if total > limit:
                            raise _too_big(max_mb)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise LoadError(f"not a valid {path.suffix} file (damaged zip container: {exc})") from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise LoadError(f"not a valid {path.suffix} file ({exc.__class__.__name__}: {exc})") from exc


def _too_big(max_mb: float) -> LoadError:
    return LoadError(f"expands to more than {max_mb:g} MB when decompressed (budget ingest.max_unpacked_mb)")


def _too_deep(what: str, depth: int, limit: int, line: int) -> LoadError:
    return LoadError(
        f"{what} nested deeper than {limit} levels (at least {depth}, line {line}; budget ingest.max_depth)"
    )


_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def check_json_depth(text: str, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` (strings skipped, so brackets in text don't count)."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    stripped = _JSON_STRING.sub('""', text)
    for m in _JSON_BRACKET.finditer(stripped):
        depth += 1 if m.group() in "[{" else -1
        if depth > limit:
            raise _too_deep("JSON", depth, limit, stripped.count("\n", 0, m.start()) + 1)


_TAG = re.compile(r"<(/?)([A-Za-z][\w:.\-]*)[^<>]*?(/?)>|<!--.*?-->", re.S)
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "basefont", "frame", "keygen",
}  # fmt: skip
_AUTO_CLOSED = {"p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot", "rp", "rt"}


def check_markup_depth(text: str, limit: int) -> None:
    """Refuse HTML/XML whose elements nest deeper than ``limit``, counted as the parser nests them:
    a close tag closes the innermost open element of its name and every element opened inside
    it; a close tag of no open element (a stray ``</x>``) closes nothing (it once counted as a
    close, and a page of ``<span>..</x>`` passed while the parser nested 27,000 levels). Void
    elements and elements HTML closes implicitly (p, li, td ...) are not counted: sloppy but valid
    pages stay well under (the loader is linear in their nesting)."""
    if text.count("<") <= limit:
        return
    stack: list[str] = []
    open_by_name: dict[str, int] = {}
    for m in _TAG.finditer(text):
        closing, name, selfclose = m.group(1), (m.group(2) or "").lower(), m.group(3)
        if not name or selfclose or name in _VOID or name in _AUTO_CLOSED:
            continue
        if closing:
            if open_by_name.get(name):
                while (top := stack.pop()) != name:
                    open_by_name[top] -= 1
                open_by_name[name] -= 1
            continue
        stack.append(name)
        open_by_name[name] = open_by_name.get(name, 0) + 1
        if len(stack) > limit:
            raise _too_deep("markup", len(stack), limit, text.count("\n", 0, m.start()) + 1)


def precheck(path: Path, fmt: str, limits: Limits) -> None:
    """The budget checks that apply to one file's format (called just before its loader)."""
    if fmt in ZIP_FORMATS:
        check_zip(path, limits.max_unpacked_mb)
    elif fmt in ("html", "json", "jsonl"):
        from industry_expert.ingest.base import decode_text

        text = decode_text(path.read_bytes())
        if fmt == "html":
            check_markup_depth(text, limits.max_depth)
        else:  # JSON Lines: every line is balanced, so the whole text has the same depth
            check_json_depth(text, limits.max_depth)


def too_many_chunks(limit: int, gives: str) -> LoadError:
    """``gives``: the count, e.g. ``23,456`` or ``at least 40,471``."""
    return LoadError(f"gives {gives} chunks, over the {limit:,} limit (budget ingest.max_chunks_per_file)")


_SLICE = 1 << 20


def _words(text: str) -> int:
    """Whitespace-separated words, counted in slices (bounded memory; a word cut by a slice
    boundary counts twice, one in a million)."""
    return sum(len(text[i : i + _SLICE].split()) for i in range(0, len(text), _SLICE))


def _texts(blocks: list[Any]) -> Iterator[str]:
    for block in blocks:
        yield block.text
        for row in (block.rows or []) if block.kind == "table" else []:
            yield " ".join(row)


def _visible(text: str) -> int:
    return len(text) - sum(text.count(c) for c in " \n\t\r")


def chunks_at_least(blocks: list[Any], limits: Limits) -> int:
    """A lower bound of the chunks ``blocks`` will give: a chunk holds at most ``chunk_chars``
    characters besides spaces and ``chunk_tokens`` tokens, and a word is at least one token.
    Words are counted only when the text is long enough for them to pass the budget."""
    chars = sum(_visible(t) for t in _texts(blocks))
    by_chars = -(-chars // limits.chunk_chars)
    if by_chars > limits.max_chunks_per_file or chars < limits.max_chunks_per_file * limits.chunk_tokens:
        return by_chars
    return max(by_chars, -(-sum(_words(t) for t in _texts(blocks)) // limits.chunk_tokens))


def check_output(parsed: list[Any], limits: Limits) -> None:
    """Refuse a file whose documents cannot fit ``ingest.max_chunks_per_file`` chunks."""
    at_least = sum(chunks_at_least(p.blocks, limits) for p in parsed)
    if at_least > limits.max_chunks_per_file:
        raise too_many_chunks(limits.max_chunks_per_file, f"at least {at_least:,}")
