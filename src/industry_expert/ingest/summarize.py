"""Extractive per-document summaries (offline): title, lead sentences, headings or table shape."""

from __future__ import annotations

from industry_expert.text import split_sentences
from industry_expert.types import Block


def _cap(words: list[str], limit: int) -> str:
    return " ".join(words[:limit]) + (" ..." if len(words) > limit else "")


def summarize(title: str, blocks: list[Block], max_words: int = 60) -> str:
    """A short description that lets retrieval find the right document first."""
    tables = [b for b in blocks if b.kind == "table"]
    records = [b for b in blocks if b.kind == "record"]
    if tables and not any(b.kind in ("paragraph", "list_item") for b in blocks):
        parts = []
        for t in tables:
            header, rows = t.header or [], t.rows or []
            sample = "; ".join(f"{h}: {v}" for h, v in zip(header, rows[0]) if v) if rows else ""
            parts.append(f"Table with {len(rows)} rows; columns: {', '.join(header)}. First row: {sample}.")
        return _cap(f"{title}. {' '.join(parts)}".split(), max_words * 2)
    if records:
        keys = sorted({k for r in records for k in (r.meta or {}) if k != "record"})
        labels = ", ".join((r.header or [""])[0] for r in records[:8])
        text = f"{title}. {len(records)} records with fields: {', '.join(keys)}. Records: {labels}"
        return _cap(text.split(), max_words * 2)
    headings = [b.text for b in blocks if b.kind == "heading" and b.text != title][:10]
    lead: list[str] = []
    for b in blocks:
        if b.kind in ("paragraph", "list_item"):
            lead.extend(split_sentences(b.text))
        if len(" ".join(lead).split()) >= max_words:
            break
    text = f"{title}. " + " ".join(lead)
    summary = _cap(text.split(), max_words)
    if headings:
        summary += " Sections: " + "; ".join(headings) + "."
    return summary
