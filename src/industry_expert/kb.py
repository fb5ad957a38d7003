"""A knowledge base directory: manifest (embedder, chunking, store backend), store, embedder."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.artifacts import tool_version
from industry_expert.config import ChunkSettings, RemoteSettings, Settings
from industry_expert.errors import ConfigError, EmbedderMismatchError, KBError
from industry_expert.io import read_json_object, write_json_atomic
from industry_expert.models.embedders import Embedder, load_embedder, normalize
from industry_expert.store import registry
from industry_expert.store.base import Store
from industry_expert.store.token_vectors import Key, TokenVectorStore, quantize
from industry_expert.types import DocumentRecord, section_text

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
StoreOptions = Mapping[str, Any]
"""A store backend's constructor options (``dsn``, ``schema``...)."""


class KnowledgeBase:
    """Open with :meth:`open` (must exist) or :meth:`create` (new or compatible existing)."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        embedder: Embedder | None = None,
        store_options: StoreOptions | None = None,
    ) -> None:
        """``store_options`` add to (or override) the options the manifest records, e.g. secrets."""
        self.path = path
        self.manifest = manifest
        self._embedder = embedder
        self.remote: RemoteSettings | None = None
        """Timeouts and retries of a remote (``openai:``) embedder; from ``open(settings=...)``."""
        backend, options = registry.from_manifest(
            manifest.get("store", registry.DEFAULT_BACKEND), str(path / MANIFEST)
        )
        self.store: Store = registry.open_store(
            path, int(manifest["embedder"]["dim"]), backend, {**options, **(store_options or {})}
        )

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        embedder: str | None = None,
        store_options: StoreOptions | None = None,
        settings: Settings | None = None,
    ) -> KnowledgeBase:
        """Open an existing KB with the store backend its manifest names. Options (a connection URL
        with its password...) come from the manifest, then ``settings.store`` when it names the same
        backend, then ``store_options``."""
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise KBError(f"{path}: no knowledge base here (run 'expert ingest PATH --kb {path}')")
        manifest = read_json_object(manifest_path, KBError)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise KBError(
                f"{path}: KB format {manifest.get('format_version')} is not supported "
                f"by this version (expects {FORMAT_VERSION})"
            )
        backend = _recorded_backend(path, manifest)
        if settings is not None and settings.store.backend == backend:
            store_options = {**_store_choice(settings, None, None)[1], **(store_options or {})}
        try:
            kb = cls(path, manifest, store_options=store_options)
        except ConfigError as exc:  # the manifest names a backend that is unknown here, or bad options
            raise KBError(f"{manifest_path}: store: {exc}") from None
        kb.remote = settings.remote if settings is not None else None
        if embedder is not None and embedder != manifest["embedder"]["spec"]:
            kb._check_embedder(load_embedder(embedder, kb.remote))
        return kb

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        settings: Settings | None = None,
        explicit: set[str] | None = None,
        store: str | None = None,
        store_options: StoreOptions | None = None,
    ) -> KnowledgeBase:
        """Open a compatible KB or create one. ``explicit`` names settings the user set on purpose
        (``embedder``, ``chunking``, ``store``): those must match an existing KB. ``store`` names the
        backend (default: the settings' ``store.backend``); ``store_options`` are its constructor
        options. The manifest records the backend and its options without secrets (the options the
        store reports through an optional ``recorded_options()``, else the ones given)."""
        path, settings, explicit = Path(path), settings or Settings(), set(explicit or ())
        backend, options = _store_choice(settings, store, store_options)
        if store is not None or settings.store.backend != registry.DEFAULT_BACKEND:
            explicit.add("store")
        if (path / MANIFEST).is_file():
            recorded = _recorded_backend(path)
            if "store" in explicit and recorded != backend:
                raise KBError(
                    f"{path}: built with store '{recorded}', not '{backend}'; "
                    "use a new --kb directory to change the store"
                )
            kb = cls.open(
                path, settings.embedder if "embedder" in explicit else None, store_options, settings
            )
            if "chunking" in explicit and kb.chunking != settings.chunking:
                raise EmbedderMismatchError(
                    f"{path}: built with chunking {kb.manifest['chunking']}, not "
                    f"{settings.chunking.model_dump()}; use a new --kb directory to change chunking"
                )
            return kb
        store_entry = registry.recordable(backend, options)
        registry.backend_class(backend)  # an unknown or uninstalled backend fails before any file is written
        embedder = load_embedder(settings.embedder, settings.remote)
        variant = getattr(embedder, "variant", None)  # how it runs (onnx/torch), when it says
        manifest = {
            "format_version": FORMAT_VERSION,
            "tool_version": tool_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": {
                "spec": settings.embedder,
                "id": embedder.id,
                "dim": embedder.dim,
                **({"variant": variant} if variant else {}),
            },
            "chunking": settings.chunking.model_dump(),
            "store": store_entry,
        }
        path.mkdir(parents=True, exist_ok=True)
        # the store opens (and may fail) before the manifest exists
        kb = cls(path, manifest, embedder, options)
        kb.remote = settings.remote
        effective = getattr(kb.store, "recorded_options", None)  # e.g. a schema the backend derived
        if effective is not None:
            manifest["store"] = registry.recordable(backend, effective())
        write_json_atomic(path / MANIFEST, manifest)
        return kb

    def _check_embedder(self, embedder: Embedder) -> None:
        want = self.manifest["embedder"]
        if embedder.id != want["id"] or embedder.dim != want["dim"]:
            raise EmbedderMismatchError(
                f"{self.path}: this KB was built with embedder '{want['id']}' ({want['dim']}-d); "
                f"'{embedder.id}' ({embedder.dim}-d) cannot query or extend it. Re-ingest into a "
                f"new --kb directory to switch embedders."
            )
        self._embedder = embedder

    # -- properties ----------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._check_embedder(load_embedder(self.manifest["embedder"]["spec"], self.remote))
        assert self._embedder is not None
        return self._embedder

    @property
    def chunking(self) -> ChunkSettings:
        return ChunkSettings(**self.manifest["chunking"])

    def embed(self, texts: list[str]) -> np.ndarray:
        return (
            normalize(self.embedder.embed_batch(texts))
            if texts
            else np.zeros((0, self.store.dim), dtype=np.float32)
        )

    def embed_with_tokens(
        self, texts: list[str], threads: int | None = None, quantized: bool = False
    ) -> tuple[np.ndarray, list[Any] | None]:
        """``embed`` and, from the same forward pass, each text's content token vectors when the
        embedder gives them (the local ONNX one; ``None`` otherwise): fp32 unit rows, or
        ``quantized`` as ``token_store`` keeps them. ``threads``: as the embedder's
        ``embed_tokens`` (default: one for a query-sized call)."""
        embed_tokens = getattr(self.embedder, "embed_tokens", None)
        if embed_tokens is None or not texts:
            return self.embed(texts), None
        vectors, tokens = embed_tokens(texts, threads, quantize if quantized else None)
        return normalize(vectors), tokens

    @property
    def token_store(self) -> TokenVectorStore:
        """The reranker's token vectors kept at ingest (``tokens.sqlite`` in the KB directory,
        whatever the store backend; empty for a KB ingested before they were kept)."""
        if "_token_store" not in self.__dict__:
            self.__dict__["_token_store"] = TokenVectorStore(self.path)
        store: TokenVectorStore = self.__dict__["_token_store"]
        return store

    def delete_documents(self, doc_ids: list[str]) -> int:
        """Remove documents with their chunks and kept token vectors; returns the chunks removed."""
        removed = self.store.delete(doc_ids)
        self.token_store.delete(doc_ids)
        return removed

    def prune_token_vectors(self) -> int:
        """Drop the kept token vectors of documents the store no longer has (removed through a
        path that did not remove them); returns the rows removed."""
        return self.token_store.prune({d.doc_id for d in self.store.documents()})

    def fill_token_vectors(self, batch: int = 256) -> int:
        """Keep token vectors for every chunk that has none (a KB ingested before they were kept;
        costs an embedding pass over those chunks); returns how many were encoded."""
        if not hasattr(self.embedder, "embed_tokens"):
            return 0
        ids, filled = self.store.chunk_ids(), 0
        for start in range(0, len(ids), batch):
            hits = self.store.hits(ids[start : start + batch]).values()
            keys: list[Key] = [(h.doc_id, section_text(h.section, h.text)) for h in hits]
            missing = [k for k, m in zip(keys, self.token_store.get(keys)) if m is None]
            tokens = self.embed_with_tokens([t for _, t in missing], quantized=True)[1] if missing else None
            if tokens:
                self.token_store.add(missing, tokens)
                filled += len(missing)
        return filled

    @property
    def store_backend(self) -> str:
        """The store backend's registered name, as the manifest records it."""
        return _recorded_backend(self.path, self.manifest)

    def stats(self) -> dict[str, Any]:
        s = self.store.stats()
        runs = self.store.runs()
        return {
            "kb": str(self.path),
            **s,
            "embedder": self.manifest["embedder"]["id"],
            "embedder_dim": self.manifest["embedder"]["dim"],
            "chunking": self.manifest["chunking"],
            "created": self.manifest["created"],
            "pdfs": pdf_stats(self.store.documents()),
            "ingest_runs": len(runs),
            "last_ingest": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(runs[-1]["finished"]))
            if runs
            else None,
        }

    def close(self) -> None:
        tokens = self.__dict__.pop("_token_store", None)
        if tokens is not None:
            tokens.close()
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def pdf_stats(docs: list[DocumentRecord]) -> list[dict[str, Any]]:
    """Per PDF: pages, pages without text (scanned?), whether its outline gave the sections
    (``None`` where the PDF was ingested before these were recorded)."""
    return [
        {
            "source": d.source,
            "pages": d.metadata.get("pages"),
            "pages_without_text": d.metadata.get("pages_without_text"),
            "outline": d.metadata.get("outline"),
        }
        for d in docs
        if d.type == "pdf"
    ]


def _store_choice(
    settings: Settings, store: str | None, store_options: StoreOptions | None
) -> tuple[str, dict[str, Any]]:
    """The backend and options: explicit arguments first, then the settings' ``store`` section
    (whose options apply only when it names the same backend)."""
    section = settings.store
    backend = store or section.backend
    options: dict[str, Any] = {}
    if backend == section.backend:
        options.update(section.options)
        if section.url:
            options["dsn"] = section.url  # server-backed stores take their connection as ``dsn``
    options.update(store_options or {})
    return registry.check_name(backend), options


def _recorded_backend(path: Path, manifest: dict[str, Any] | None = None) -> str:
    """The store backend a KB's manifest names (KBs made before backends had options: a string)."""
    manifest = manifest if manifest is not None else read_json_object(path / MANIFEST, KBError)
    return registry.from_manifest(manifest.get("store", registry.DEFAULT_BACKEND), str(path / MANIFEST))[0]


@dataclass
class KBCheck:
    """What ``expert kb check`` looked at, the problems it found (one line each, with the way
    out; after a repair, those that remain) and what ``--repair`` rebuilt."""

    kb: str
    store: str
    checked: list[str]
    problems: list[str]
    repaired: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_kb(path: str | os.PathLike[str], repair: bool = False) -> KBCheck:
    """Check a KB's store (database integrity, full-text and vector indexes against the stored
    chunks); ``repair`` rebuilds those indexes from the stored chunks and vectors."""
    with KnowledgeBase.open(path) as kb:
        check = getattr(kb.store, "check", None)
        if check is None:
            raise KBError(f"{path}: 'expert kb check' is not supported for the {kb.store_backend} store")
        found = check(repair)
        return KBCheck(str(path), kb.store_backend, found["checked"], found["problems"], found["repaired"])
