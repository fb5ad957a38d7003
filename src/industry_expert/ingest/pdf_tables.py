"""Simple tables on a PDF page: runs of lines split into the same columns by wide gaps.

A line's cells come from the backend (``Line.cells``: text runs separated by a gap wider than the
font size; PDFium only). At least three consecutive lines (a header and two rows) with the same
number of cells, two or more, whose columns line up (left or right edges within ``ALIGN`` points)
make a table; its first line is the header. The table becomes a ``table`` block (header and rows),
which the chunker writes as the CSV and XLSX loaders' rows are written ("Header: value; ...").

Not a table: code (monospace), and two-column prose (every column's cells long), which also splits
into aligned runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from industry_expert.ingest.pdf_lines import Cell, Line
from industry_expert.ingest.pdf_text import LIGATURES

ALIGN = 4.0  # points: a cell's left or right edge within this of its column's
MIN_LINES = 3  # a bold header line and two rows
SHORT_COLUMN = 30  # characters: a table has a column whose median cell is at most this long


@dataclass
class Table:
    start: int  # index of the header line
    end: int  # index after the last row
    header: list[str]
    rows: list[list[str]]


def _row(ln: Line) -> tuple[Cell, ...]:
    return ln.cells if len(ln.cells) >= 2 and not ln.mono and not ln.level else ()


def _aligned(a: tuple[Cell, ...], b: tuple[Cell, ...]) -> bool:
    return len(a) == len(b) and all(
        abs(x.x0 - y.x0) <= ALIGN or abs(x.x1 - y.x1) <= ALIGN or abs(x.x0 + x.x1 - y.x0 - y.x1) <= 2 * ALIGN
        for x, y in zip(a, b)
    )


def _text(cell: Cell) -> str:
    return " ".join(cell.text.translate(LIGATURES).split())


class _Run:
    """Rows that line up, a cell wrapped onto the next line joined to its row."""

    def __init__(self, first: tuple[Cell, ...]) -> None:
        self.first = first
        self.rows = [[_text(c) for c in first]]
        self.spans = [[c.x0, c.x1] for c in first]

    def add(self, ln: Line) -> bool:
        cells = _row(ln)
        if _aligned(self.first, cells):
            self.rows.append([_text(c) for c in cells])
            self._widen(cells)
            return True
        return self._continue(ln)

    def _widen(self, cells: tuple[Cell, ...]) -> None:
        for span, c in zip(self.spans, cells):
            span[0], span[1] = min(span[0], c.x0), max(span[1], c.x1)

    def _continue(self, ln: Line) -> bool:
        """A line with cells only right of the first column: the rest of the last row's cells."""
        if ln.mono or ln.level or not ln.cells or len(ln.cells) >= len(self.spans):
            return False
        if ln.cells[0].x0 <= self.spans[0][1] + ALIGN:
            return False
        for c in ln.cells:
            k = max(i for i, span in enumerate(self.spans) if span[0] <= c.x0 + ALIGN)
            self.rows[-1][k] = f"{self.rows[-1][k]} {_text(c)}".strip()
        return True

    def header_above(self, ln: Line) -> bool:
        """``ln`` names the columns: one cell over each column's span and no other's."""
        cells = ln.cells if not ln.mono and not ln.level else ()
        if len(cells) != len(self.spans):
            return False
        n = len(cells)
        return all(
            c.x1 >= self.spans[k][0] - ALIGN
            and c.x0 <= self.spans[k][1] + ALIGN
            and (k == 0 or c.x0 > self.spans[k - 1][1])
            and (k == n - 1 or c.x1 < self.spans[k + 1][0])
            for k, c in enumerate(cells)
        )

    def plausible(self) -> bool:
        """Not a bulleted list, not two columns of prose (a table has a short column)."""
        columns = list(zip(*self.rows))
        if len(set(columns[0])) == 1 and not any(ch.isalnum() for ch in columns[0][0]):
            return False
        return min(statistics.median(len(t) for t in col) for col in columns) <= SHORT_COLUMN


def with_tables(lines: list[Line]) -> list[Line]:
    """The page's lines with each table's lines replaced by one line that carries the table (no
    text: headings, outline titles and running headers are never looked for in it)."""
    out, last = [], 0
    for t in find_tables(lines):
        out += lines[last : t.start]
        out.append(Line("", y=lines[t.start].y, table=(t.header, t.rows)))
        last = t.end
    return out + lines[last:]


def find_tables(lines: list[Line]) -> list[Table]:
    """The tables among a page's lines, in order: a run of aligned rows under a line that names
    their columns, or whose first line is bold over rows that are not."""
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        first = _row(lines[i])
        if not first:
            i += 1
            continue
        run, j = _Run(first), i + 1
        while j < len(lines) and run.add(lines[j]):
            j += 1
        table = _table(lines, i, j, run)
        if table:
            tables.append(table)
            i = j
        else:
            i += 1
    return tables


def _title_like(texts: list[str]) -> bool:
    """Column names: short, capitalised, no digits, no sentence end."""
    return all(
        t[:1].isupper() and len(t) <= SHORT_COLUMN and not any(c.isdigit() for c in t) and not t.endswith(".")
        for t in texts
    )


def _table(lines: list[Line], i: int, j: int, run: _Run) -> Table | None:
    """The run as a table when a header names its columns (the line above, or its first line)."""
    if len(run.rows) < 2 or not run.plausible():
        return None
    above = lines[i - 1] if i > 0 else None
    if above is not None and run.header_above(above):
        names = [_text(c) for c in above.cells]
        if above.bold or (_title_like(names) and not all(_title_like(r) for r in run.rows)):
            return Table(i - 1, j, names, run.rows)
    if len(run.rows) < MIN_LINES:
        return None
    rows_bold = any(ln.bold for ln in lines[i + 1 : j])
    header, rest = run.rows[0], run.rows[1:]
    if (lines[i].bold and not rows_bold) or (_title_like(header) and not all(_title_like(r) for r in rest)):
        return Table(i, j, header, rest)
    return None
