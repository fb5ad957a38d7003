"""What a running server holds: the served KBs (a small pool of open handles each, one shared
embedder), the models (loaded once) and one bounded generation queue per model instance."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.config import ServeSettings, Settings
from industry_expert.errors import ConfigError
from industry_expert.serve.drain import Drain
from industry_expert.serve.errors import api_error
from industry_expert.serve.state import State


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class ServedKB:
    """A KB served under ``name``; ``borrow()`` lends an open handle to one thread at a time."""

    name: str
    path: Path
    evals: Path | None = None
    train_data: Path | None = None
    settings: Settings | None = None
    uploads: Path | None = None
    """Where the server keeps this KB's uploaded files (their sources are shown by name)."""
    _free: queue.LifoQueue[Any] = field(default_factory=queue.LifoQueue, repr=False)
    _first: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _public: Any = field(default=None, repr=False)

    def _new_handle(self) -> Any:
        from industry_expert.kb import KnowledgeBase

        handle = KnowledgeBase.open(self.path, settings=self.settings)  # store options from settings
        if self._first is None:
            self._first = handle
        else:  # more handles for concurrent requests share the first one's loaded embedder
            handle._embedder = self._first.embedder  # noqa: SLF001 - no public setter; same model id
        return handle

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        try:
            handle = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                handle = self._new_handle()
        try:
            yield handle
        finally:
            self._free.put(handle)

    def public_source(self, source: str) -> str:
        """``source`` as the API shows it (:mod:`industry_expert.serve.sources`): no server path."""
        if self._public is None:
            from industry_expert.serve.sources import PublicSources

            self._public = PublicSources(self.uploads, self._stored_sources)
        return str(self._public(source))

    def _stored_sources(self) -> list[str]:
        with self.borrow() as handle:
            return [d.source for d in handle.store.documents()]

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().close()


class QueueFull(Exception):
    pass


class ModelWorker:
    """One model instance: one thread generates; at most ``queue_size`` requests wait."""

    def __init__(
        self, name: str, spec: str | None, adapter: Path | None, queue_size: int, remote: Any = None
    ) -> None:
        self.name, self.spec, self.adapter, self.remote = name, spec, adapter, remote
        self.capacity = 1 + queue_size
        self.pending = 0
        self.on_depth: Callable[[int], Any] | None = None
        """Told ``pending`` whenever it changes (the queue-depth gauge)."""
        self._gen: Any = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gen-{name}")

    @property
    def generator(self) -> Any:
        with self._lock:
            if self._gen is None:
                from industry_expert.models.generators import load_generator

                self._gen = load_generator(
                    self.spec, str(self.adapter) if self.adapter else None, self.remote
                )
            return self._gen

    def submit(self, fn: Callable[[Any], Any]) -> Future[Any]:
        """Run ``fn(generator)`` on this model's thread; :class:`QueueFull` when too many wait."""
        with self._lock:
            if self.pending >= self.capacity:
                raise QueueFull(self.name)
            self.pending += 1
            self._tell()
        future = self._pool.submit(lambda: fn(self.generator))
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.pending -= 1
            self._tell()

    def _tell(self) -> None:
        if self.on_depth is not None:
            self.on_depth(self.pending)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Expert:
    """A model id of ``/v1/models``: a KB (or none: the model alone) with a model instance."""

    id: str
    kb: str | None
    worker: ModelWorker
    adapter: str | None = None


def model_name(spec: str | None) -> str:
    """A short id for a generator spec: a catalogue name as it is (``qwen2.5-0.5b``), a GGUF's
    stem, an HF repo's last part."""
    from industry_expert.models.catalog import CATALOG

    if not spec:
        from industry_expert.models.generators import DEFAULT_MODEL

        spec = os.environ.get("IE_MODEL") or DEFAULT_MODEL
    if spec in CATALOG:
        return spec
    kind, _, arg = spec.partition(":")
    if kind == "openai":
        return arg.partition("@")[0] or "openai"
    if kind == "hf":
        return Path(arg.rstrip("/")).name
    return Path(spec).stem


class Runtime:
    """Everything the routes share (``app.state.runtime``)."""

    def __init__(self, settings: Settings, state: State) -> None:
        self.full = settings
        self.settings: ServeSettings = settings.serve
        self.state = state
        s = self.settings
        self.uploads = s.state_dir / "uploads"
        self.kbs = {
            name: ServedKB(name, kb.path, kb.evals, kb.train_data, settings, self.uploads / name)
            for name, kb in s.kbs.items()
        }
        spec = s.model or settings.answer.model
        base = model_name(spec)
        remote = getattr(settings, "remote", None)
        self.workers = {base: ModelWorker(base, spec, None, s.queue_size, remote)}
        for name, path in s.adapters.items():
            self.workers[f"{base}+{name}"] = ModelWorker(f"{base}+{name}", spec, path, s.queue_size, remote)
        self.experts = self._experts(base)
        threads = s.search_threads or cores()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="search")
        self.search_slots = threading.BoundedSemaphore(threads + s.search_queue_size)
        """Search/embedding requests running or waiting; one more gets 503 (``admit_search``)."""
        self.drain = Drain(s.grace_s)
        self.ready = False
        self.error: str | None = None  # why loading failed (shown by /readyz)
        self.metrics: Any = None  # set by the app factory (observe.Metrics)
        self.jobs: Any = None  # jobs.Jobs
        self.request_log: Any = None  # observe.RequestLog

    def _experts(self, base: str) -> dict[str, Expert]:
        experts: dict[str, Expert] = {}
        for wname, worker in self.workers.items():
            adapter = wname.partition("+")[2] or None
            experts[wname] = Expert(wname, None, worker, adapter)
            for kb in self.kbs:
                eid = f"{kb}+{adapter}" if adapter else kb
                if eid in experts or kb in self.workers:
                    raise ConfigError(f"serve: the KB name '{kb}' collides with a model id; rename it")
                experts[eid] = Expert(eid, kb, worker, adapter)
        return experts

    def load(self) -> None:
        """Load the default model and open every KB (``/readyz`` turns true after this)."""
        for kb in self.kbs.values():
            with kb.borrow() as handle:
                handle.embed(["warm up"])
        next(iter(self.workers.values())).generator  # noqa: B018 - load it now, not on first use
        self.ready = True

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for kb in self.kbs.values():
            kb.close()
        self.state.close()

    async def run_search(self, fn: Callable[[], Any]) -> Any:
        """``fn`` on the search pool; 503 ``queue_full`` (with ``Retry-After``) when
        ``search_threads + search_queue_size`` requests are already running or waiting."""
        if not self.search_slots.acquire(blocking=False):
            raise api_error(
                503, "queue_full", "search is busy: too many requests waiting", self.settings.retry_after_s
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn)
        finally:
            self.search_slots.release()

    def kb_for(self, principal: Any, name: str, need: str = "read") -> ServedKB:
        kb = self.kbs.get(name)
        if kb is None or not principal.can(name, need):
            if kb is not None and principal.can(name, "read"):
                raise api_error(
                    403, "permission_denied", f"this key may not write to knowledge base '{name}'"
                )
            raise api_error(404, "not_found", f"knowledge base '{name}' not found")
        return kb

    def expert_for(self, principal: Any, model: str) -> Expert:
        ex = self.experts.get(model)
        if ex is None or (ex.kb is not None and not principal.can(ex.kb, "read")):
            raise api_error(404, "model_not_found", f"the model '{model}' does not exist")
        return ex
