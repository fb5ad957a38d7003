"""Parse files in a child process, so one file cannot take the run down.

The child gets an address-space limit (``ingest.max_parse_mb`` above what it needs at rest) and the
parent waits at most ``ingest.max_seconds_per_file`` for each answer; a child over either budget (or
killed by a crashing C parser) is replaced and the file is reported with the budget's name.
Requests and answers are JSON lines over pipes (no pickle). A request carries the bytes the parent
already read and hashed, never a path to open again: the child writes them to a private copy
(in a folder only this user can enter, named as the original so format and title are the same),
parses that and deletes it.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed
from industry_expert.ingest.budgets import Limits, check_output, precheck
from industry_expert.types import Block


def encode_path(path: Path) -> str:
    """Any byte sequence the OS allows in a name survives the trip (surrogateescape -> latin-1)."""
    return os.fsencode(path).decode("latin-1")


def decode_path(text: str) -> Path:
    return Path(os.fsdecode(text.encode("latin-1")))


def parse_file(path: Path, table: str | None, query: str | None, limits: Limits) -> list[Parsed]:
    """Budget checks, then the format's loader (or the SQLite loader for a table/query)."""
    from industry_expert.ingest.formats import format_of, loader_for

    fmt = format_of(path)
    if table or query:
        from industry_expert.ingest import sqlite

        if fmt != "sqlite":
            raise LoadError("--table/--query apply to SQLite databases only")
        parsed = sqlite.load(path, table=table, query=query)
    else:
        precheck(path, fmt, limits)
        parsed = loader_for(path)(path)
    check_output(parsed, limits)  # here, so text that cannot fit never reaches the main process
    return parsed


_BLOCK = 1 << 20
_copies = itertools.count()


def _copy_path(folder: str, name: Path) -> Path:
    """A fresh private subfolder of ``folder`` and, in it, the original file name."""
    sub = os.path.join(folder, str(next(_copies)))
    os.mkdir(sub, 0o700)
    return Path(sub) / (os.fsdecode(os.path.basename(os.fsencode(name))) or "file")


@contextmanager
def private_copy(name: Path, data: bytes) -> Iterator[Path]:
    """``data`` as a file named like ``name`` in a private temporary folder (removed after)."""
    with tempfile.TemporaryDirectory(prefix="ie-parse-") as tmp:
        path = _copy_path(tmp, name)
        path.write_bytes(data)
        yield path


def _dumps(answer: dict[str, Any]) -> bytes:
    """JSON as UTF-8; lone surrogates (from odd names or JSON escapes) become '?', so every
    string that reaches the store is valid UTF-8."""
    return json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace")


def parse_clean(
    name: Path, data: bytes, table: str | None, query: str | None, limits: Limits
) -> list[Parsed]:
    """``parse_file`` over ``data`` in this process, with the same clean-up the child's answers get."""
    with private_copy(name, data) as path:
        parsed = _to_json(parse_file(path, table, query, limits))
    return _from_json(json.loads(_dumps({"parsed": parsed}))["parsed"])


def _to_json(parsed: list[Parsed]) -> list[dict[str, Any]]:
    return [asdict(p) for p in parsed]


def _from_json(items: list[dict[str, Any]]) -> list[Parsed]:
    return [Parsed(**{**d, "blocks": [Block(**b) for b in d["blocks"]]}) for d in items]


class ParseWorker:
    """One long-lived child process; restarted after a budget kill."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.proc: subprocess.Popen[bytes] | None = None
        self.folder: str | None = None  # the child's private copies (removed when it stops)
        self._buf = b""

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
            if self.folder is None or not os.path.isdir(self.folder):
                self.folder = tempfile.mkdtemp(prefix="ie-parse-")
            limits = json.dumps(asdict(self.limits))
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "industry_expert.ingest.worker", limits, self.folder],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            self._buf = b""
        return self.proc

    def parse(
        self, name: Path, data: bytes, table: str | None = None, query: str | None = None
    ) -> list[Parsed]:
        """Parse ``data``, the bytes of a file named ``name`` (the name tells format and title)."""
        proc = self._start()
        request = {"name": encode_path(name), "size": len(data), "table": table, "query": query}
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.write(data)
            proc.stdin.flush()
        except OSError:
            self.close()
            raise LoadError(self._death_reason()) from None
        answer = self._answer(time.monotonic() + self.limits.max_seconds_per_file)
        if "error" in answer:
            raise LoadError(answer["error"])
        return _from_json(answer["parsed"])

    def _answer(self, deadline: float) -> dict[str, Any]:
        """The next answer line; its pieces are joined once (a long answer costs linear time)."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        pieces = [self._buf]
        while b"\n" not in pieces[-1]:
            pieces.append(self._read(proc.stdout.fileno(), deadline))
        line, _, self._buf = b"".join(pieces).partition(b"\n")
        return json.loads(line)  # type: ignore[no-any-return]

    def _read(self, fd: int, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            self.close()
            raise LoadError(
                f"took longer than {self.limits.max_seconds_per_file:g} s to parse "
                "(budget ingest.max_seconds_per_file)"
            )
        data = os.read(fd, 1 << 20)
        if not data:
            reason = self._death_reason()
            self.close()
            raise LoadError(reason)
        return data

    def _death_reason(self) -> str:
        code = self.proc.wait(timeout=5) if self.proc is not None else None
        if code is not None and code < 0:
            return (
                f"the parser was killed (signal {-code}); the file may need more memory than "
                f"{self.limits.max_parse_mb:g} MB (budget ingest.max_parse_mb)"
            )
        return f"the parser stopped unexpectedly (exit status {code})"

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass  # unflushed bytes to a child that is gone
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _limit_memory(max_mb: float) -> None:
    import resource

    with open("/proc/self/statm") as fh:
        vm_bytes = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_bytes + int(max_mb * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _memory_reason(limits: Limits) -> str:
    return f"needs more than {limits.max_parse_mb:g} MB to parse (budget ingest.max_parse_mb)"


def _used_most_memory(limits: Limits) -> bool:
    """Whether this child's peak RSS came near its memory budget (so the failure was memory)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak >= 0.8 * limits.max_parse_mb * 1024 * 1024


def _serve(limits: Limits, folder: str) -> None:
    for name in ("bs4", "markdown_it", "pypdf", "docx", "openpyxl", "lxml.etree"):
        try:  # loaded before the memory limit is set: the budget is for the file's work
            __import__(name)
        except ImportError:
            pass
    try:
        _limit_memory(limits.max_parse_mb)
    except (OSError, ValueError, OverflowError, ImportError):
        pass  # no /proc or no rlimits here: the time budget still holds
    out, requests = sys.stdout.buffer, sys.stdin.buffer
    try:
        while line := requests.readline():
            req = json.loads(line)
            out.write(_dumps(_request(requests, req, folder, limits)) + b"\n")
            out.flush()
    finally:  # the parent removes it too, unless it was killed
        shutil.rmtree(folder, ignore_errors=True)


def _request(requests: IO[bytes], req: dict[str, Any], folder: str, limits: Limits) -> dict[str, Any]:
    """Receive one file's bytes into a private copy, parse it, delete it; the answer."""
    path, sink, error = None, None, None
    try:
        path = _copy_path(folder, decode_path(req["name"]))
        sink = open(path, "xb")  # noqa: SIM115 - closed below, once every byte is read
    except OSError as exc:
        error = exc
    error = _receive(requests, req["size"], sink) or error
    try:
        if sink is not None:
            sink.close()
    except OSError as exc:
        error = error or exc
    try:
        if error is not None or path is None:
            return {"error": f"cannot write a private copy to parse: {getattr(error, 'strerror', error)}"}
        return _answer(path, req, limits)
    finally:
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)


def _receive(requests: IO[bytes], size: int, sink: IO[bytes] | None) -> OSError | None:
    """Read the request's ``size`` bytes into ``sink``. After a write error the rest is still
    read (and dropped), so the next request starts where it should; returns that error."""
    error: OSError | None = None
    while size > 0:
        block = requests.read(min(size, _BLOCK))
        if not block:
            sys.exit(0)  # the parent is gone
        size -= len(block)
        if sink is not None and error is None:
            try:
                sink.write(block)
            except OSError as exc:
                error = exc
    return error


def _answer(path: Path, req: dict[str, Any], limits: Limits) -> dict[str, Any]:
    try:
        return {"parsed": _to_json(parse_file(path, req.get("table"), req.get("query"), limits))}
    except LoadError as exc:
        return {"error": exc.reason}
    except MemoryError:
        return {"error": _memory_reason(limits)}
    except RecursionError:
        return {"error": f"nested too deeply to parse (budget ingest.max_depth={limits.max_depth})"}
    except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the batch
        if _used_most_memory(limits):  # C parsers (lxml) report running out as their own error
            return {"error": _memory_reason(limits)}
        return {"error": f"unexpected {exc.__class__.__name__}: {exc}"}


if __name__ == "__main__":
    _serve(Limits(**json.loads(sys.argv[1])), sys.argv[2])
