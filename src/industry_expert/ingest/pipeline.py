"""The ingest job: discover -> hash -> parse -> chunk -> embed (batched across files) -> commit.

Each document is committed in its own transaction, so a killed run keeps everything committed
before it and the next run finishes the rest (unchanged documents are recognised by hash).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.config import Settings
from industry_expert.errors import KBError, LoadError
from industry_expert.ingest.base import Parsed
from industry_expert.ingest.budgets import Limits
from industry_expert.ingest.chunking import chunk_blocks
from industry_expert.ingest.discover import Source, discover, safe_name
from industry_expert.ingest.formats import format_of
from industry_expert.ingest.summarize import summarize
from industry_expert.ingest.worker import ParseWorker, parse_clean
from industry_expert.kb import KnowledgeBase
from industry_expert.types import Chunk, DocumentRecord


@dataclass
class FileResult:
    source: str
    status: str  # ingested | unchanged | removed | failed | skipped
    documents: int = 0
    chunks: int = 0
    reason: str | None = None


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


def doc_id_for(abs_path: str, part: str = "") -> str:
    return hashlib.sha256(f"{abs_path}#{part}".encode("utf-8", "surrogateescape")).hexdigest()[:16]


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
        self.limits = Limits.from_settings(settings.ingest)
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
            data = self._read(path)
        except LoadError as exc:
            return self.fail(src.display, exc.reason)
        file_hash = hashlib.sha256(data).hexdigest()
        group = self._group(src)
        if group and all(d.file_hash == file_hash for d in group) and not src.selector:
            n = sum(d.n_chunks for d in group)
            self.report.files.append(FileResult(src.display, "unchanged", len(group), n))
            return
        try:
            parsed = self._parse(src)
        except LoadError as exc:
            return self.fail(src.display, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the batch
            return self.fail(src.display, f"unexpected {exc.__class__.__name__}: {exc}")
        result = FileResult(src.display, "unchanged", documents=len(parsed))
        self.report.files.append(result)
        keep = set()
        for p in parsed:
            doc_id = doc_id_for(src.abs_path, p.part)
            keep.add(doc_id)
            content_hash = p.content_hash or file_hash
            old = self.existing.get(doc_id)
            if old and old.content_hash == content_hash:
                result.chunks += old.n_chunks
                continue
            self._prepare(src, p, fmt, doc_id, content_hash, file_hash, result)
        if not src.selector:  # tables dropped from a database file
            gone = [d.doc_id for d in group if d.doc_id not in keep]
            if gone:
                self.report.chunks_removed += self.kb.store.delete(gone)

    def _read(self, path: Path) -> bytes:
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):  # reading a pipe or device could block or never end
                raise LoadError("not a regular file (a pipe, socket or device)")
            size = st.st_size
            limit = self.settings.ingest.max_file_mb
            if size > limit * 1024 * 1024:
                raise LoadError(
                    f"file is {size / 1048576:.1f} MB, over the {limit:g} MB limit (budget ingest.max_file_mb)"
                )
            if size == 0:
                raise LoadError("empty file")
            with path.open("rb") as fh:  # never more than the size checked (the file may grow)
                return fh.read(size)
        except OSError as exc:
            raise LoadError(f"cannot read: {exc.strerror or exc}") from exc

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

    def _parse(self, src: Source) -> list[Parsed]:
        """The loader, within the per-file budgets (in a child process unless isolation is off)."""
        if self.worker is not None:
            return self.worker.parse(src.path, src.table, src.query)
        return parse_clean(src.path, src.table, src.query, self.limits)

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
    ) -> None:
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
        self.wave.append(_Pending(result, record, chunks))

    def flush(self) -> None:
        if not self.wave:
            return
        texts = [c.embed_text() for p in self.wave for c in p.chunks]
        summaries = [f"{p.record.title}\n{p.record.summary}" for p in self.wave]
        t0 = time.perf_counter()
        vectors = self.kb.embed(texts + summaries)
        self.report.embed_seconds += time.perf_counter() - t0
        offset = 0
        for i, p in enumerate(self.wave):
            n = len(p.chunks)
            old = self.existing.get(p.record.doc_id)
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
        for arg, reason in found.missing + found.unreadable:
            job.fail(arg, reason)
        for path, reason in found.skipped:
            job.report.files.append(FileResult(path, "skipped", reason=reason))
        job.on_progress, job.should_stop = on_progress, should_stop
        job.run(found.sources)
        if not job.stopped:
            unreadable = [safe_name(os.path.realpath(u)) for u in found.unreadable_paths]
            job.remove_missing(found.roots, {s.abs_path for s in found.sources}, unreadable)
        kb.store.sync()
        job.report.seconds = time.perf_counter() - t0
        kb.store.log_run(started, job.report.to_dict())
    return job.report
