"""Approximate nearest-neighbour index (faiss) derived from the vectors committed in SQLite.

The SQLite database is the source of truth. The index file is a cache named after the highest
chunk id it holds (``ann-<max_id>.faiss``), replaced atomically; a stale one is caught up by adding
newer chunks, and rebuilt when too many of its entries were deleted.

Handles of one KB in one process (a server's concurrent requests each borrow their own) share the
index loaded from one file: at a million chunks it is ~2 GB, and faiss searches are thread-safe. A
handle that must change a shared index (catching up) changes a copy of its own.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

EXACT_BELOW = 20_000
"""Up to this many vectors the index is exact (flat inner product); above it, HNSW."""
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256
"""Search width: recall@10 0.995 at 100k vectors (bench/results/scale_ann_recall.md, 0.87 ms per
query), leaving room for the loss at 1M; 96 gave 0.965 at 100k."""
REBUILD_STALE_FRACTION = 0.25
_NAME = re.compile(r"^ann-(\d+)\.faiss$")
_LOADED: weakref.WeakValueDictionary[tuple[str, int, int], Any] = weakref.WeakValueDictionary()
"""Indexes read from files, by (path, inode, mtime): shared while any handle holds them."""
_LOADING = threading.Lock()

Batches = Callable[[int, int], Iterator[tuple[np.ndarray, np.ndarray]]]
"""(after_id, upto_id) -> iterator of (ids, vectors) for live chunks in that id range."""


def _faiss():  # type: ignore[no-untyped-def]
    import faiss

    from industry_expert.models.threads import num_threads

    threads = num_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    return faiss


class AnnIndex:
    def __init__(self, directory: Path, dim: int, ef_search: int = HNSW_EF_SEARCH) -> None:
        self.directory = directory
        self.dim = dim
        self.ef_search = ef_search
        self.index: Any = None
        self.shared = False
        self.max_id = 0
        self.kind = "none"

    # -- building -----------------------------------------------------------------
    def _new(self, n: int):  # type: ignore[no-untyped-def]
        faiss = _faiss()
        if n < EXACT_BELOW:
            self.kind = "flat"
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.kind = "hnsw"
        inner = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return faiss.IndexIDMap2(inner)

    def _add(self, batches: Iterator[tuple[np.ndarray, np.ndarray]]) -> None:
        if self.shared:  # other handles search this one: change a copy
            self.index, self.shared = _faiss().clone_index(self.index), False
        for ids, vecs in batches:
            if len(ids):
                self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids.astype(np.int64))
                self.max_id = max(self.max_id, int(ids.max()))

    def rebuild(self, live: int, db_max: int, batches: Batches) -> None:
        self.index, self.shared = self._new(live), False
        self.max_id = 0
        self._add(batches(0, db_max))
        self.max_id = db_max

    # -- syncing with the database ---------------------------------------------------
    def sync(self, live: int, live_upto_max: Callable[[int], int], db_max: int, batches: Batches) -> bool:
        """Make the index cover every live chunk; True when it changed (and should be saved)."""
        if self.index is None:
            self.load()
        if self.index is None:
            self.rebuild(live, db_max, batches)
            return True
        stale = self.index.ntotal - live_upto_max(self.max_id)
        wrong_kind = (self.kind == "flat") != (live < EXACT_BELOW)
        if stale > REBUILD_STALE_FRACTION * max(self.index.ntotal, 1) or wrong_kind and live > 0:
            self.rebuild(live, db_max, batches)
            return True
        if db_max > self.max_id:
            self._add(batches(self.max_id, db_max))
            self.max_id = db_max
            return True
        return False

    # -- files --------------------------------------------------------------------------
    def _files(self) -> list[tuple[int, Path]]:
        found = []
        for p in self.directory.glob("ann-*.faiss"):
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def load(self) -> None:
        files = self._files()
        if not files:
            return
        max_id, path = files[-1]
        try:
            index = _read(path)
        except (RuntimeError, OSError):
            return  # unreadable (or just replaced) cache: rebuilt from the database
        if index.d != self.dim:
            return
        self.index, self.max_id, self.shared = index, max_id, True
        inner = _faiss().downcast_index(index.index)
        self.kind = "hnsw" if hasattr(inner, "hnsw") else "flat"

    def save(self) -> None:
        if self.index is None:
            return
        target = self.directory / f"ann-{self.max_id}.faiss"
        tmp = self.directory / f".ann-{self.max_id}.{os.getpid()}.tmp"
        _faiss().write_index(self.index, str(tmp))
        os.replace(tmp, target)
        for _, path in self._files():
            if path != target:
                path.unlink(missing_ok=True)

    # -- searching ----------------------------------------------------------------------
    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.index is None or self.index.ntotal == 0:
            return []
        params = (
            _faiss().SearchParametersHNSW(efSearch=max(self.ef_search, k)) if self.kind == "hnsw" else None
        )
        scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _read(path: Path) -> Any:
    """The index in ``path``, shared with other handles in this process that read the same file."""
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_mtime_ns)
    with _LOADING:
        index = _LOADED.get(key)
        if index is None:
            index = _faiss().read_index(str(path))
            _LOADED[key] = index
    return index
