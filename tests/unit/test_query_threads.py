"""One query's native work runs on one thread: numpy's BLAS and faiss' OpenMP pools are limited
to 1 inside ``gather`` and restored afterwards (a busy machine otherwise stalls a query on a
descheduled BLAS helper thread)."""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from industry_expert.models.threads import query_threads
from industry_expert.retrieve.hybrid import gather


def _threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] in ("blas", "openmp")}


def test_query_threads_limits_native_pools_and_restores_them() -> None:
    import faiss  # noqa: F401  (its OpenMP and OpenBLAS pools are among those limited)

    with threadpool_limits(limits=2):
        assert _threads() == {2}
        with query_threads():
            assert _threads() == {1}
        assert _threads() == {2}


class _Store:
    def __init__(self) -> None:
        self.seen: list[set[int]] = []

    def dense(self, vector: Any, n: int, filters: Any) -> list[tuple[int, float]]:
        self.seen.append(_threads())
        return [(1, 0.9)]

    def lexical(self, query: str, n: int, filters: Any) -> list[tuple[int, float]]:
        self.seen.append(_threads())
        return [(1, 3.0)]


class _KB:
    def __init__(self) -> None:
        self.store = _Store()


def test_gather_runs_the_retrievers_on_one_thread() -> None:
    kb = _KB()
    with threadpool_limits(limits=2):
        dense = gather(kb, "seal kit", 5, mode="dense", query_vector=np.ones(4, np.float32))  # type: ignore[arg-type]
        lexical = gather(kb, "KF-560", 5, mode="bm25")  # type: ignore[arg-type]
    assert dense.dense == [(1, 0.9)] and lexical.bm25 == [(1, 3.0)]
    assert kb.store.seen == [{1}, {1}]
