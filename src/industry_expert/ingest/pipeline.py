"""The ingest job: discover -> read -> hash -> parse -> chunk -> embed (batched across files) -> commit.

Each file is opened once, never through a link, and only when it is the very file discovery
checked (same device and inode); its bytes are hashed and handed to the parser, which never opens
the path itself. Each document is committed in its own transaction, so a killed run keeps
everything committed before it and the next run finishes the rest (unchanged documents are
recognised by hash).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from industry_expert.config import Settings
from industry_expert.errors import KBError, LoadError
from industry_expert.ingest.base import Parsed
from industry_expert.ingest.budgets import Limits, too_many_chunks
from industry_expert.ingest.chunking import DEFAULT_MAX_CHARS, chunk_blocks
from industry_expert.ingest.discover import Source, discover, folder_holding, safe_name
from industry_expert.ingest.formats import format_of
from industry_expert.ingest.summarize import summarize
from industry_expert.ingest.worker import ParseWorker, parse_clean
from industry_expert.io import open_parent_no_links
from industry_expert.kb import KnowledgeBase
from industry_expert.store.sqlite_health import damage_error
from industry_expert.types import Chunk, DocumentRecord


@dataclass
class FileResult:
    source: str
    status: str  # ingested | unchanged | removed | failed | skipped
    documents: int = 0
    chunks: int = 0
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)  # read, with something the user should know


@dataclass
class IngestReport:
    kb: str
    files: list[FileResult] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_added / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update({k: self.count(k) for k in ("ingested", "unchanged", "removed", "failed", "skipped")})
        d["chunks_per_second"] = round(self.chunks_per_second, 2)
        d["errors"] = [{"source": f.source, "reason": f.reason} for f in self.files if f.status == "failed"]
        return d


@dataclass
class _Pending:
    result: FileResult
    record: DocumentRecord
    chunks: list[Chunk]


SWAPPED = "changed after it was listed (now a link or another file); not read"
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never blocks


def read_source(src: Source, max_mb: float) -> bytes:
    """The bytes of the file discovery checked, read through one descriptor: opened without
    following any link and compared (device, inode) with what was listed; refused when it is not
    a regular file, empty, or over ``max_mb``."""
    try:
        parent, name = open_parent_no_links(src.real or os.path.realpath(src.path))
        try:
            return _read_at(parent, name, src.ident, max_mb)
        finally:
            os.close(parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise LoadError(SWAPPED) from None
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc


def _same(st: os.stat_result, ident: tuple[int, int] | None) -> None:
    if stat.S_ISLNK(st.st_mode) or (ident is not None and (st.st_dev, st.st_ino) != ident):
        raise LoadError(SWAPPED)


def _read_at(parent: int, name: str, ident: tuple[int, int] | None, max_mb: float) -> bytes:
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    _same(st, ident)
    if not stat.S_ISREG(st.st_mode):  # reading a pipe or device could block or never end
        raise LoadError("not a regular file (a pipe, socket or device)")
    _check_size(st.st_size, max_mb)
    fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
    try:
        st = os.fstat(fd)
        _same(st, ident)  # swapped between the check and the open
        _check_size(st.st_size, max_mb)
        with os.fdopen(fd, "rb", closefd=False) as fh:  # never more than the size checked
            return fh.read(st.st_size)
    finally:
        os.close(fd)


def _check_size(size: int, limit: float) -> None:
    if size > limit * 1024 * 1024:
        raise LoadError(
            f"file is {size / 1048576:.1f} MB, over the {limit:g} MB limit (budget ingest.max_file_mb)"
        )
    if size == 0:
        raise LoadError("empty file")


def doc_id_for(abs_path: str, part: str = "") -> str:
    return hashlib.sha256(f"{abs_path}#{part}".encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _refuse_kb_inside(paths: list[str], kb_dir: Path) -> None:
    """A knowledge base inside (or equal to) a folder being ingested is refused before anything
    is written: it would be written among the documents and skipped as the tool's own folder."""
    folder = folder_holding(paths, kb_dir)
    if folder is not None:
        raise KBError(
            f"{safe_name(kb_dir)}: the knowledge base would be inside the folder being ingested "
            f"('{folder}'); choose a --kb folder outside it"
        )


@contextmanager
def _sqlite_errors_in_one_line(db: Path) -> Iterator[None]:
    """A full disk or damage met in the KB's other database (the kept token vectors) is one line,
    as the store's own (``store.sqlite_health``)."""
    try:
        yield
    except sqlite3.Error as exc:
        error = damage_error(db, exc)
        if error is None:
            raise
        raise error from exc


def _store_lock(kb: KnowledgeBase) -> Any:
    """A server-backed store's own ingest lock (PostgreSQL: an advisory lock), held across machines."""
    lock = getattr(kb.store, "ingest_lock", None)
    return lock() if lock is not None else nullcontext()


@contextmanager
def _ingest_lock(path: Path) -> Iterator[None]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        fh = open(path / ".ingest.lock", "w")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise KBError(
            f"{path}: cannot write to this knowledge base ({exc.strerror or exc}); it can still be "
            "searched: ingest into a writable copy or fix its permissions"
        ) from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KBError(f"{path}: another ingest is running on this knowledge base") from None
        yield


class _Job:
    def __init__(self, kb: KnowledgeBase, settings: Settings, progress: bool) -> None:
        self.kb, self.settings = kb, settings
        self.report = IngestReport(kb=str(kb.path))
        self.wave: list[_Pending] = []
        self.existing = {d.doc_id: d for d in kb.store.documents()}
        self.limits = replace(
            Limits.from_settings(settings.ingest),
            chunk_chars=getattr(kb.chunking, "max_chars", DEFAULT_MAX_CHARS),
            chunk_tokens=kb.chunking.max_tokens,
        )
        self.worker = ParseWorker(self.limits) if settings.ingest.isolate_parsing else None
        self.on_progress: Callable[[IngestReport], None] | None = None
        self.should_stop: Callable[[], bool] | None = None
        self.stopped = False
        from tqdm import tqdm

        disable = None if progress else True
        self.files_bar = tqdm(desc="files", unit="file", disable=disable, position=0)
        self.chunks_bar = tqdm(desc="chunks", unit="chunk", disable=disable, position=1)

    def run(self, sources: list[Source]) -> None:
        self.files_bar.total = len(sources)
        try:
            self._run(sources)
        finally:
            if self.worker is not None:
                self.worker.close()

    def _run(self, sources: list[Source]) -> None:
        for src in sources:
            if self.should_stop is not None and self.should_stop():
                self.stopped = True  # between files: what is committed stays, nothing is half-written
                break
            self.file(src)
            self.files_bar.update(1)
            if sum(len(p.chunks) for p in self.wave) >= self.settings.ingest.embed_wave_chunks:
                self.flush()
            if self.on_progress is not None:
                self.on_progress(self.report)
        self.flush()
        if self.on_progress is not None:
            self.on_progress(self.report)
        self.files_bar.close()
        self.chunks_bar.close()

    def fail(self, src: str, reason: str) -> None:
        self.report.files.append(FileResult(src, "failed", reason=reason))

    def file(self, src: Source) -> None:
        path = src.path
        try:
            fmt = format_of(path)
            data = read_source(src, self.settings.ingest.max_file_mb)
        except LoadError as exc:
            return self.fail(src.display, exc.reason)
        file_hash = hashlib.sha256(data).hexdigest()
        group = self._group(src)
        if group and all(d.file_hash == file_hash for d in group) and not src.selector:
            n = sum(d.n_chunks for d in group)
            self.report.files.append(FileResult(src.display, "unchanged", len(group), n))
            return
        try:
            parsed = self._parse(src, data)
        except LoadError as exc:
            return self.fail(src.display, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the batch
            return self.fail(src.display, f"unexpected {exc.__class__.__name__}: {exc}")
        result = FileResult(src.display, "unchanged", documents=len(parsed))
        result.warnings = [w for p in parsed for w in p.warnings]  # e.g. pages without text, a skipped table
        keep: set[str] = set()
        pending: list[_Pending] = []
        for p in parsed:
            doc_id = doc_id_for(src.abs_path, p.part)
            keep.add(doc_id)
            content_hash = p.content_hash or file_hash
            old = self.existing.get(doc_id)
            if old and old.content_hash == content_hash:
                result.chunks += old.n_chunks
                continue
            pending.append(self._prepare(src, p, fmt, doc_id, content_hash, file_hash, result))
        if (over := self._over_budget(pending)) is not None:  # its documents stay as they were
            return self.fail(src.display, over)
        self.report.files.append(result)
        self._queue(pending)
        if not src.selector:  # tables dropped from a database file
            gone = [d.doc_id for d in group if d.doc_id not in keep]
            if gone:
                self.report.chunks_removed += self.kb.store.delete(gone)

    def _over_budget(self, pending: list[_Pending]) -> str | None:
        chunks, limit = sum(len(q.chunks) for q in pending), self.limits.max_chunks_per_file
        return too_many_chunks(limit, f"{chunks:,}").reason if chunks > limit else None

    def _group(self, src: Source) -> list[DocumentRecord]:
        if src.selector:
            d = self.existing.get(doc_id_for(src.abs_path, self._part(src)))
            return [d] if d else []
        return [d for d in self.existing.values() if d.abs_path == src.abs_path]

    @staticmethod
    def _part(src: Source) -> str:
        if src.query:
            from industry_expert.ingest.sqlite import short_hash

            return f"query:{short_hash(src.query)}"
        return f"table:{src.table}" if src.table else ""

    def _parse(self, src: Source, data: bytes) -> list[Parsed]:
        """The loader over the bytes read, within the per-file budgets (in a child process unless
        isolation is off); the name only tells the format and the title."""
        if self.worker is not None:
            return self.worker.parse(src.path, data, src.table, src.query)
        return parse_clean(src.path, data, src.table, src.query, self.limits)

    def _counter(self) -> tuple[Any, int | None]:
        """The embedder's own token counter and window, when it has them (approximate otherwise)."""
        embedder = self.kb.embedder
        return getattr(embedder, "count_tokens", None), getattr(embedder, "max_tokens", None)

    def _prepare(
        self,
        src: Source,
        p: Parsed,
        fmt: str,
        doc_id: str,
        content_hash: str,
        file_hash: str,
        result: FileResult,
    ) -> _Pending:
        meta = {**p.metadata, "format": fmt}
        count, window = self._counter()
        chunks = chunk_blocks(doc_id, p.title, p.blocks, self.kb.chunking, count=count, window=window)
        record = DocumentRecord(
            doc_id=doc_id,
            source=src.display,
            abs_path=src.abs_path,
            type=fmt,
            title=p.title,
            content_hash=content_hash,
            summary=summarize(p.title, p.blocks, self.settings.ingest.summary_words),
            file_hash=file_hash,
            metadata=meta,
        )
        return _Pending(result, record, chunks)

    def _queue(self, pending: list[_Pending]) -> None:
        """Waves stay bounded: the documents gathered so far are committed before a file that
        would take the wave past ``ingest.embed_wave_chunks``, so a big file never holds them back."""
        size = sum(len(p.chunks) for p in self.wave) + sum(len(p.chunks) for p in pending)
        if self.wave and size > self.settings.ingest.embed_wave_chunks:
            self.flush()
        self.wave.extend(pending)

    def flush(self) -> None:
        if not self.wave:
            return
        texts = [c.embed_text() for p in self.wave for c in p.chunks]
        summaries = [f"{p.record.title}\n{p.record.summary}" for p in self.wave]
        t0 = time.perf_counter()
        vectors, tokens = self.kb.embed_with_tokens(texts + summaries, quantized=True)  # one pass
        self.report.embed_seconds += time.perf_counter() - t0
        offset = 0
        for i, p in enumerate(self.wave):
            n = len(p.chunks)
            old = self.existing.get(p.record.doc_id)
            if tokens is not None:  # the reranker's token vectors, committed just before the chunks
                self.kb.token_store.replace(p.record.doc_id, texts[offset:][:n], tokens[offset:][:n])
            self.kb.store.upsert(p.record, p.chunks, vectors[offset : offset + n], vectors[len(texts) + i])
            offset += n
            self.report.chunks_added += n
            self.report.chunks_removed += old.n_chunks if old else 0
            p.result.status = "ingested"
            p.result.chunks += n
            self.chunks_bar.update(n)
        self.wave.clear()

    def remove_missing(self, roots: list[str], present: set[str], unreadable: list[str]) -> None:
        """Documents of walked folders whose files are gone; never those under a folder that
        could not be read this time (their files may well still be there)."""
        gone: dict[str, list[DocumentRecord]] = {}
        for d in self.existing.values():
            if any(d.abs_path == u or d.abs_path.startswith(u + os.sep) for u in unreadable):
                continue
            if d.abs_path not in present and any(d.abs_path.startswith(r + os.sep) for r in roots):
                gone.setdefault(d.source, []).append(d)
        for source, docs in sorted(gone.items()):
            removed = self.kb.store.delete([d.doc_id for d in docs])
            self.report.chunks_removed += removed
            self.report.files.append(FileResult(source, "removed", len(docs), removed))


def ingest(
    paths: list[str],
    kb_path: str | os.PathLike[str],
    settings: Settings | None = None,
    explicit: set[str] | None = None,
    table: str | None = None,
    query: str | None = None,
    progress: bool = False,
    on_progress: Callable[[IngestReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Ingest files, folders, globs and databases into the KB at ``kb_path`` (created if new).
    ``on_progress`` sees the report after each file and each commit; ``should_stop`` is asked
    before each file (``expert serve`` cancels jobs with it; then nothing is removed)."""
    settings = settings or Settings()
    started = time.time()
    t0 = time.perf_counter()
    kb_dir = Path(kb_path)
    _refuse_kb_inside(paths, kb_dir)
    with _ingest_lock(kb_dir), KnowledgeBase.create(kb_dir, settings, explicit) as kb, _store_lock(kb):
        found = discover(
            paths,
            table=table,
            query=query,
            exclude=[str(kb_dir)],
            follow_links=settings.ingest.follow_links,
            link_roots=settings.ingest.link_roots,
        )
        job = _Job(kb, settings, progress)
        for arg, reason in found.missing + found.unreadable + found.failed:
            job.fail(arg, reason)
        for path, reason in found.skipped:
            job.report.files.append(FileResult(path, "skipped", reason=reason))
        job.on_progress, job.should_stop = on_progress, should_stop
        with _sqlite_errors_in_one_line(kb.token_store.path):
            job.run(found.sources)
            if not job.stopped:
                unreadable = [safe_name(os.path.realpath(u)) for u in found.unreadable_paths]
                job.remove_missing(found.roots, {s.abs_path for s in found.sources}, unreadable)
            kb.prune_token_vectors()  # those of documents removed by this run
        kb.store.sync()
        job.report.seconds = time.perf_counter() - t0
        kb.store.log_run(started, job.report.to_dict())
    return job.report
