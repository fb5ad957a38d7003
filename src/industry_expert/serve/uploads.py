"""Multipart uploads streamed to disk (never held in memory whole), with a size limit checked as
bytes arrive; names sanitised; each file stored by content hash so the same content is one file
(and so one document): ``<state_dir>/uploads/<kb>/<sha256>/<name>``."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.serve.errors import APIError, api_error

CHUNK_LIMIT_MSG = "upload is larger than serve.max_upload_mb ({mb:g} MB)"


BIDI = dict.fromkeys([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
"""Bidirectional controls, removed from names (with U+202E, ``invoice<U+202E>gpj.md`` shows as
"invoicedm.jpg")."""


def clean_name(raw: bytes) -> str:
    """The file name to store: the last path component of what the client sent, without
    bidirectional controls. Refuses control characters (NUL, newline...), non-UTF-8 bytes, hidden
    or empty names."""
    try:
        text = raw.decode("utf-8").translate(BIDI)
    except UnicodeDecodeError:
        raise api_error(400, "invalid_file_name", "file name is not valid UTF-8") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise api_error(400, "invalid_file_name", f"file name {text!r} contains a control character")
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name.startswith(".") or len(name.encode()) > 200:
        raise api_error(400, "invalid_file_name", f"file name {text!r} is empty, hidden or too long")
    from industry_expert.ingest.formats import is_supported

    if not is_supported(Path(name)):
        raise api_error(415, "unsupported_format", f"{name}: not an ingestable format")
    return name


@dataclass
class Received:
    name: str
    tmp: Path
    sha256: str = ""
    size: int = 0


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    field_name: bytes = b""
    value: bytes = b""
    out: Any = None
    hasher: Any = None
    received: Received | None = None


class Receiver:
    """Feeds the request body to python-multipart and writes file parts to ``incoming``."""

    def __init__(self, boundary: bytes, incoming: Path, limit: int, limit_mb: float) -> None:
        from python_multipart.multipart import MultipartParser

        self.incoming, self.limit, self.limit_mb = incoming, limit, limit_mb
        self.files: list[Received] = []
        self.error: APIError | None = None
        self.part = _Part()
        callbacks = {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._acc("field_name", d[s:e]),
            "on_header_value": lambda d, s, e: self._acc("value", d[s:e]),
            "on_header_end": self._header,
            "on_headers_finished": self._open,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }
        self.parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _acc(self, attr: str, data: bytes) -> None:
        setattr(self.part, attr, getattr(self.part, attr) + data)

    def _begin(self) -> None:
        self.part = _Part()

    def _header(self) -> None:
        self.part.headers[self.part.field_name.decode("latin-1").lower()] = self.part.value
        self.part.field_name, self.part.value = b"", b""

    def _open(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.part.headers.get("content-disposition", b""))
        if options.get(b"name") != b"files" or b"filename" not in options:
            return  # other form fields are ignored
        name = clean_name(options[b"filename"])
        tmp = self.incoming / f"{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        self.part.out, self.part.hasher = os.fdopen(fd, "wb"), hashlib.sha256()
        self.part.received = Received(name, tmp)
        self.files.append(self.part.received)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.part.out is not None:
            self.part.out.write(data[start:end])
            self.part.hasher.update(data[start:end])
            assert self.part.received is not None
            self.part.received.size += end - start

    def _end(self) -> None:
        if self.part.out is not None:
            self.part.out.close()
            assert self.part.received is not None
            self.part.received.sha256 = self.part.hasher.hexdigest()
            self.part.out = None

    async def consume(self, body: AsyncIterator[bytes]) -> list[Received]:
        total = 0
        try:
            async for chunk in body:
                total += len(chunk)
                if total > self.limit:
                    raise api_error(413, "payload_too_large", CHUNK_LIMIT_MSG.format(mb=self.limit_mb))
                self.parser.write(chunk)
            self.parser.finalize()
        except APIError:
            self.discard()
            raise
        except Exception as exc:  # python-multipart's parse errors, a client gone mid-upload
            self.discard()
            raise api_error(400, "invalid_multipart", f"malformed multipart body: {exc}") from None
        except BaseException:  # cancelled: nothing of it stays on disk either
            self.discard()
            raise
        if not self.files:
            raise api_error(400, "no_files", "no files: send them as multipart field 'files'")
        return self.files

    def discard(self) -> None:
        if self.part.out is not None:
            self.part.out.close()
        for f in self.files:
            f.tmp.unlink(missing_ok=True)


def boundary_of(content_type: str) -> bytes:
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise api_error(415, "unsupported_media_type", "send the files as multipart/form-data")
    return options[b"boundary"]


def store(received: Received, kb_dir: Path) -> Path:
    """Move an incoming file to ``kb_dir/<sha256>/<name>``; the same content keeps its first file."""
    home = kb_dir / received.sha256
    try:
        home.mkdir(parents=True)
    except FileExistsError:
        existing = sorted(p for p in home.iterdir() if p.is_file() and not p.is_symlink())
        if existing:
            received.tmp.unlink(missing_ok=True)
            return existing[0]
    target = home / received.name
    os.replace(received.tmp, target)
    return target


def remove_stored(path: Path, kb_dir: Path) -> None:
    """Delete an uploaded file (and its hash folder) once its document is deleted."""
    try:
        path.resolve().relative_to(kb_dir.resolve())
    except ValueError:
        return  # not an upload (ingested from a folder of the server's disk): left alone
    shutil.rmtree(path.parent, ignore_errors=True)
