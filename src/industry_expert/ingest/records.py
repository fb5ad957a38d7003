"""JSON and JSON Lines loader: every object is a record (its own passage, its fields filterable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed, read_text, title_from_path
from industry_expert.types import Block

_TITLE_KEYS = ("title", "name", "id", "subject")
_META_MAX_CHARS = 500


def load_jsonl(path: Path) -> list[Parsed]:
    records: list[Any] = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise LoadError(f"malformed JSON Lines: line {number} column {exc.colno}: {exc.msg}") from exc
    return [_parsed(path, records)]


def load_json(path: Path) -> list[Parsed]:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise LoadError(f"malformed JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        data = [data]
    return [_parsed(path, data)]


def _parsed(path: Path, records: list[Any]) -> Parsed:
    if not records:
        raise LoadError("no records")
    blocks = [record_block(r, i) for i, r in enumerate(records, start=1)]
    return Parsed(title=title_from_path(path), blocks=blocks, metadata={"records": len(records)})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted keys; lists of scalars become comma-separated strings."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return {prefix[:-1]: ", ".join(str(v) for v in value)}
        return {prefix[:-1]: json.dumps(value, ensure_ascii=False)}
    return {prefix[:-1] or "value": value}


def _filterable(value: Any) -> bool:
    """Scalars kept as a record's metadata; a long string is text to search, not a value to
    filter on (every chunk of the record carries its metadata: a 40 MB string would be copied
    into each of them)."""
    if isinstance(value, str):
        return len(value) <= _META_MAX_CHARS
    return isinstance(value, (int, float, bool))


def record_block(record: Any, number: int) -> Block:
    fields = flatten(record)
    text = "\n".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))
    meta = {k: v for k, v in fields.items() if _filterable(v)}
    label = next((str(fields[k]) for k in _TITLE_KEYS if fields.get(k)), f"record {number}")
    meta["record"] = number
    return Block("record", text, meta=meta, header=[label])
