"""Parse files in a child process, so one file cannot take the run down.

The child gets an address-space limit (``ingest.max_parse_mb`` above what it needs at rest) and the
parent waits at most ``ingest.max_seconds_per_file`` for each answer; a child over either budget (or
killed by a crashing C parser) is replaced and the file is reported with the budget's name.
Requests and answers are JSON lines over pipes (no pickle).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from industry_expert.errors import LoadError
from industry_expert.ingest.base import Parsed
from industry_expert.ingest.budgets import Limits, precheck
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
        return sqlite.load(path, table=table, query=query)
    precheck(path, fmt, limits)
    return loader_for(path)(path)


def _dumps(answer: dict[str, Any]) -> bytes:
    """JSON as UTF-8; lone surrogates (from odd names or JSON escapes) become '?', so every
    string that reaches the store is valid UTF-8."""
    return json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace")


def parse_clean(path: Path, table: str | None, query: str | None, limits: Limits) -> list[Parsed]:
    """``parse_file`` in this process, with the same clean-up the child's answers get."""
    return _from_json(
        json.loads(_dumps({"parsed": _to_json(parse_file(path, table, query, limits))}))["parsed"]
    )


def _to_json(parsed: list[Parsed]) -> list[dict[str, Any]]:
    return [asdict(p) for p in parsed]


def _from_json(items: list[dict[str, Any]]) -> list[Parsed]:
    return [Parsed(**{**d, "blocks": [Block(**b) for b in d["blocks"]]}) for d in items]


class ParseWorker:
    """One long-lived child process; restarted after a budget kill."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "industry_expert.ingest.worker", json.dumps(asdict(self.limits))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            self._buf = b""
        return self.proc

    def parse(self, path: Path, table: str | None = None, query: str | None = None) -> list[Parsed]:
        proc = self._start()
        request = {"path": encode_path(path), "table": table, "query": query}
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            self.close()
            raise LoadError(self._death_reason()) from None
        answer = self._answer(time.monotonic() + self.limits.max_seconds_per_file)
        if "error" in answer:
            raise LoadError(answer["error"])
        return _from_json(answer["parsed"])

    def _answer(self, deadline: float) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buf:
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
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)  # type: ignore[no-any-return]

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
                    stream.close()
            self.proc = None

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


def _serve(limits: Limits) -> None:
    for name in ("bs4", "markdown_it", "pypdf", "docx", "openpyxl", "lxml.etree"):
        try:  # loaded before the memory limit is set: the budget is for the file's work
            __import__(name)
        except ImportError:
            pass
    try:
        _limit_memory(limits.max_parse_mb)
    except (OSError, ValueError, ImportError):
        pass  # no /proc or no rlimits here: the time budget still holds
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        req = json.loads(line)
        try:
            parsed = parse_file(decode_path(req["path"]), req.get("table"), req.get("query"), limits)
            answer: dict[str, Any] = {"parsed": _to_json(parsed)}
        except LoadError as exc:
            answer = {"error": exc.reason}
        except MemoryError:
            answer = {"error": _memory_reason(limits)}
        except RecursionError:
            answer = {"error": f"nested too deeply to parse (budget ingest.max_depth={limits.max_depth})"}
        except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the batch
            answer = {"error": f"unexpected {exc.__class__.__name__}: {exc}"}
            if _used_most_memory(limits):  # C parsers (lxml) report running out as their own error
                answer = {"error": _memory_reason(limits)}
        out.write(_dumps(answer) + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(Limits(**json.loads(sys.argv[1])))
