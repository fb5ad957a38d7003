"""Shared data types: one module, plain dataclasses, JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def section_text(section: str, text: str) -> str:
    """A chunk as the embedder sees it: its section path, then its text."""
    return f"{section}\n{text}" if section else text


@dataclass
class Block:
    """A structural unit of a parsed document (heading, paragraph, list item, table rows)."""

    kind: str  # "heading" | "paragraph" | "list_item" | "table" | "record"
    text: str
    level: int = 0  # heading level (1 = title level), 0 otherwise
    page: int | None = None
    header: list[str] | None = None  # table blocks: column names
    rows: list[list[str]] | None = None  # table blocks: cell values
    meta: dict[str, Any] | None = None  # record blocks: the record's scalar fields (filterable)


@dataclass
class Document:
    """A parsed source document, before chunking."""

    doc_id: str
    source: str  # the path as ingested (as the user named it)
    abs_path: str  # identity of the file on disk
    type: str  # format: markdown, html, docx, pdf, text, csv, xlsx, json, jsonl, sqlite
    title: str
    content_hash: str
    blocks: list[Block]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A retrievable passage with its provenance."""

    doc_id: str
    ordinal: int
    text: str
    section: str  # "Title > Heading > Subheading"
    page: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_id: int | None = None  # assigned by the store

    def embed_text(self) -> str:
        """What is embedded and indexed: the section path travels with the text."""
        return section_text(self.section, self.text)


@dataclass
class DocumentRecord:
    """What the store keeps about a document."""

    doc_id: str
    source: str
    abs_path: str
    type: str
    title: str
    content_hash: str
    summary: str
    file_hash: str = ""  # hash of the whole file (a database file holds several documents)
    n_chunks: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    ingested_at: float = 0.0


@dataclass
class Hit:
    """One search result."""

    source: str
    section: str
    page: int | None
    score: float
    text: str
    doc_id: str
    chunk_id: int
    type: str
    title: str
    metadata: dict[str, Any] = field(default_factory=dict)
    ranks: dict[str, int | None] = field(default_factory=dict)  # rank per retriever (1-based)
    explain: dict[str, Any] = field(default_factory=dict)
    """Per retriever its rank, raw score and fusion contribution; ``fusion``: method and weights."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """A passage cited by an answer, with the sentence of it that supports the answer."""

    n: int
    source: str
    section: str
    page: int | None
    quote: str
    support: float = 0.0  # share of the citing sentence's content words found in the passage
    inferred: bool = False  # True when the model gave no [n] and the check found the passage


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    passages: list[Hit]
    prompt: str  # exactly what was sent to the model
    model: str
    timings: dict[str, float]
    abstained: bool = False
    raw_answer: str = ""  # the model's text before citation checking
    unsupported: list[str] = field(default_factory=list)  # sentences no passage supports
    query: str = ""  # the retrieval query (a rewritten follow-up in chat)
    supported: int = 0  # sentences of the model's answer that the passages support
    extractive: bool = False  # the answer quotes a passage sentence ("The passage says: '...' [n]")
    stopped: str = ""  # why generation stopped early: "loop", "abstention" or "length" (the limit)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passages"] = [{"n": i, **p.to_dict()} for i, p in enumerate(self.passages, start=1)]
        return d
