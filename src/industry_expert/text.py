"""Text helpers every stage shares: the one sentence splitter, and reading the ``col: value | ...``
rows that table and database chunks are written as (``ingest/tables.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"'(\[])")
KEY_COLUMN = re.compile(r"(^id$|_id$|number|code|name|model|serial|part|ticket)", re.IGNORECASE)
"""Column names that identify a row (the row's subject in generated questions)."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: cut after ``.!?;`` and white space before an upper-case letter, digit,
    quote or bracket (so ``e.g. the`` and ``3.5 bar`` stay whole)."""
    return [s for s in _SENTENCE.split(text) if s.strip()]


def lines_and_sentences(text: str) -> list[str]:
    """Sentences of each line (a line break always ends a sentence)."""
    return [s for line in text.split("\n") for s in split_sentences(line)]


def human_column(column: str) -> str:
    """``serial_number`` -> ``serial number``."""
    return column.replace("_", " ").strip()


def table_rows(text: str) -> Iterator[dict[str, str]]:
    """Each ``col: value | col: value`` line of a table chunk as a dict (lines with < 2 cells skipped)."""
    for line in text.split("\n"):
        cells = [c.split(": ", 1) for c in line.split(" | ") if ": " in c]
        if len(cells) >= 2:
            yield {k.strip(): v.strip() for k, v in cells}


def key_column(row: dict[str, str]) -> str:
    """The column that names the row's subject: the first id/code/name-like one, else the first."""
    return next((c for c in row if KEY_COLUMN.search(c)), next(iter(row)))
