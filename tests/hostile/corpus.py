"""Hostile files, generated at test time (nothing big is committed)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

GOOD = "# Zephyr pump\n\nThe Zephyr pump warranty is 24 months from delivery.\n"


def _stream_member(zf: zipfile.ZipFile, name: str, head: bytes, filler: bytes, mb: int, tail: bytes) -> None:
    with zf.open(name, "w", force_zip64=True) as fh:
        fh.write(head)
        block = filler * (1048576 // len(filler))
        for _ in range(mb):
            fh.write(block)
        fh.write(tail)


def _rezip(src: Path, dst: Path, member: str, head: bytes, filler: bytes, mb: int, tail: bytes) -> None:
    """Copy a real Office file, replacing one XML member by a huge, highly compressible one."""
    with (
        zipfile.ZipFile(src) as zin,
        zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout,
    ):
        for info in zin.infolist():
            if info.filename == member:
                _stream_member(zout, member, head, filler, mb, tail)
            else:
                zout.writestr(info, zin.read(info.filename))


def _office_bomb(
    path: Path, save: Callable[[str], None], member: str, head: bytes, filler: bytes, mb: int, tail: bytes
) -> Path:
    """``path``: the real Office file ``save`` writes, its XML ``member`` replaced by ``head``, ``mb``
    MB of ``filler`` and ``tail``."""
    real = path.with_name("real-" + path.name)
    save(str(real))
    _rezip(real, path, member, head, filler, mb, tail)
    real.unlink()
    return path


def docx_bomb(path: Path, mb: int = 400) -> Path:
    """A .docx whose document.xml expands to ``mb`` MB of small paragraphs."""
    import docx

    d = docx.Document()
    d.add_paragraph("x")
    ns = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    head = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ' + ns + b"><w:body>"
    para = b"<w:p><w:r><w:t>bomb bomb bomb</w:t></w:r></w:p>"
    return _office_bomb(path, d.save, "word/document.xml", head, para, mb, b"</w:body></w:document>")


def xlsx_bomb(path: Path, mb: int = 400) -> Path:
    """A .xlsx whose first sheet expands to ``mb`` MB of rows."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["a", "b"])
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    head = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet ' + ns + b"><sheetData>"
    row = b'<row><c t="inlineStr"><is><t>bomb</t></is></c></row>'
    return _office_bomb(path, wb.save, "xl/worksheets/sheet1.xml", head, row, mb, b"</sheetData></worksheet>")


def deep_html(path: Path, depth: int = 20_000) -> Path:
    path.write_text("<html><body>" + "<div>" * depth + "deep" + "</div>" * depth + "</body></html>")
    return path


def deep_json(path: Path, depth: int = 100_000) -> Path:
    path.write_text("[" * depth + "]" * depth)
    return path


def slow_html(path: Path, paragraphs: int = 150_000) -> Path:
    """Shallow but long: many seconds of parsing (for the time budget)."""
    path.write_text("<html><body>" + "<p>Pump <b>seal</b> check.</p>" * paragraphs + "</body></html>")
    return path


def wide_csv(path: Path, columns: int = 50_000) -> Path:
    header = ",".join(f"col{i}" for i in range(columns))
    row = ",".join(f"v{i}" for i in range(columns))
    path.write_text(header + "\n" + row + "\n")
    return path


def base64_markdown(path: Path, chars: int = 2_000_000) -> Path:
    blob = ("iVBORw0KGgoAAAANSUhEUgAA" * (chars // 24 + 1))[:chars]
    path.write_text(
        "# Pump photo\n\nThe Kestrel KF-340 pump on site.\n\n"
        f"![photo](data:image/png;base64,{blob})\n\nA raw token follows: {'Q' * 200_000} end.\n"
    )
    return path


def odd_name(folder: Path, raw: bytes, subject: str) -> Path:
    """A file whose name is the given bytes (need not be UTF-8)."""
    path = Path(os.fsdecode(os.path.join(os.fsencode(folder), raw)))
    path.write_text(f"# {subject}\n\nThe {subject} is an Osprey valve part, rated 16 bar.\n")
    return path


def shared_stream_pdf(path: Path, pages: int = 60, ops: int = 60_000) -> Path:
    """A small PDF whose pages all share one large compressed content stream: every page's text
    extraction re-parses it (tens of seconds in pypdf for a file of a few KB)."""
    import zlib

    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (seal check) Tj ET\n" * ops, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length "
        + str(len(content)).encode()
        + b" /Filter /FlateDecode >>\nstream\n"
        + content
        + b"\nendstream",
    ]
    font = "<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    for _ in range(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources {font} >>".encode()
        )
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def deep_tree(folder: Path, levels: int = 20, name_bytes: int = 250) -> tuple[Path, int]:
    """``levels`` nested folders with ``name_bytes``-byte names under ``folder`` (the whole path is
    longer than PATH_MAX, 4,096 bytes, so it can only be made one name at a time, with folder
    handles). Returns the deepest folder's path and an open descriptor of it (close it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    path = folder
    for level in range(levels):
        name = f"{level:02d}-" + "n" * (name_bytes - 3)
        os.mkdir(name, dir_fd=fd)
        step = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, path = step, path / name
    return path, fd


def write_at(fd: int, name: str, text: str) -> None:
    """Write a file in the folder ``fd`` (its path may be too long to open by name)."""
    with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd), "w") as fh:
        fh.write(text)


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)
"""A 342-byte YAML "billion laughs": 9**9 (387 million) strings once its aliases are expanded."""
