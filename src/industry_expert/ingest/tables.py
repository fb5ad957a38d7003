"""Tabular loaders: CSV/TSV (csv module, strict field counts) and XLSX (openpyxl, every sheet)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed, read_text, title_from_path
from industry_expert.types import Block


def load_csv(path: Path) -> list[Parsed]:
    text = read_text(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append([cell.strip() for cell in row])
                if len(row) != len(rows[0]):
                    raise LoadError(
                        f"malformed CSV: line {reader.line_num} has {len(row)} fields, "
                        f"the header has {len(rows[0])}"
                    )
    except csv.Error as exc:
        raise LoadError(f"malformed CSV: line {reader.line_num}: {exc}") from exc
    if len(rows) < 2:
        raise LoadError("CSV has a header but no data rows" if rows else "empty CSV")
    _check_header(rows[0])
    block = Block("table", "", header=rows[0], rows=rows[1:])
    return [
        Parsed(
            title=title_from_path(path), blocks=[block], metadata={"columns": rows[0], "rows": len(rows) - 1}
        )
    ]


def _sniff(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _check_header(header: list[str]) -> None:
    if any(not h for h in header):
        raise LoadError("malformed table: a column in the header row has no name")


def load_xlsx(path: Path) -> list[Parsed]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LoadError(f"not a valid .xlsx file ({exc.__class__.__name__}: {exc})") from exc
    blocks: list[Block] = []
    sheets: list[str] = []
    for ws in wb.worksheets:
        rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        rows = [r for r in rows if any(r)]
        if len(rows) < 2:
            continue
        width = max(i + 1 for r in rows for i, v in enumerate(r) if v)
        rows = [(r + [""] * width)[:width] for r in rows]
        try:
            _check_header(rows[0])
        except LoadError as exc:
            raise LoadError(f"sheet '{ws.title}': {exc.reason}") from exc
        blocks.append(Block("heading", ws.title, level=2))
        blocks.append(Block("table", "", header=rows[0], rows=rows[1:]))
        sheets.append(ws.title)
    wb.close()
    if not blocks:
        raise LoadError("workbook has no sheet with a header and data rows")
    return [Parsed(title=title_from_path(path), blocks=blocks, metadata={"sheets": sheets})]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
