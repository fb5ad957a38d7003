"""A knowledge base directory: manifest (embedder, chunking), store, embedder."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.config import ChunkSettings, Settings
from industry_expert.errors import EmbedderMismatchError, KBError
from industry_expert.models.embedders import Embedder, load_embedder, normalize
from industry_expert.store.sqlite_faiss import SQLiteFaissStore

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def tool_version() -> str:
    from industry_expert import __version__

    return __version__


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class KnowledgeBase:
    """Open with :meth:`open` (must exist) or :meth:`create` (new or compatible existing)."""

    def __init__(self, path: Path, manifest: dict[str, Any], embedder: Embedder | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self._embedder = embedder
        self.store = SQLiteFaissStore(path, int(manifest["embedder"]["dim"]))

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], embedder: str | None = None) -> KnowledgeBase:
        path = Path(path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise KBError(f"{path}: no knowledge base here (run 'expert ingest PATH --kb {path}')")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KBError(f"{manifest_path}: unreadable manifest: {exc}") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise KBError(
                f"{path}: KB format {manifest.get('format_version')} is not supported "
                f"by this version (expects {FORMAT_VERSION})"
            )
        kb = cls(path, manifest)
        if embedder is not None and embedder != manifest["embedder"]["spec"]:
            kb._check_embedder(load_embedder(embedder))
        return kb

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], settings: Settings | None = None, explicit: set[str] | None = None
    ) -> KnowledgeBase:
        """Open a compatible KB or create one. ``explicit`` names settings the user set on purpose
        (``embedder``, ``chunking``): those must match an existing KB."""
        path, settings, explicit = Path(path), settings or Settings(), explicit or set()
        if (path / MANIFEST).is_file():
            kb = cls.open(path, settings.embedder if "embedder" in explicit else None)
            if "chunking" in explicit and kb.chunking != settings.chunking:
                raise EmbedderMismatchError(
                    f"{path}: built with chunking {kb.manifest['chunking']}, not "
                    f"{asdict(settings.chunking)}; use a new --kb directory to change chunking"
                )
            return kb
        embedder = load_embedder(settings.embedder)
        manifest = {
            "format_version": FORMAT_VERSION,
            "tool_version": tool_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "embedder": {"spec": settings.embedder, "id": embedder.id, "dim": embedder.dim},
            "chunking": asdict(settings.chunking),
            "store": SQLiteFaissStore.name,
        }
        path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path / MANIFEST, manifest)
        return cls(path, manifest, embedder)

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
            self._check_embedder(load_embedder(self.manifest["embedder"]["spec"]))
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
            "ingest_runs": len(runs),
            "last_ingest": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(runs[-1]["finished"]))
            if runs
            else None,
        }

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
