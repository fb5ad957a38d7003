"""One query's native work runs on one thread: numpy's BLAS and faiss' OpenMP pools are limited
to 1 inside ``gather`` and restored afterwards (a busy machine otherwise stalls a query on a
descheduled BLAS helper thread)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from industry_expert.models.threads import query_threads
from industry_expert.retrieve.hybrid import gather
from industry_expert.store.sqlite_faiss import SQLiteFaissStore
from industry_expert.testing.store_contract import DIM, doc, unit


def _threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] in ("blas", "openmp")}


def test_query_threads_limits_native_pools_and_restores_them() -> None:
    import faiss  # noqa: F401  (its OpenMP and OpenBLAS pools are among those limited)

    with threadpool_limits(limits=2):
        assert _threads() == {2}
        with query_threads():
            assert _threads() == {1}
        assert _threads() == {2}


def test_gather_runs_the_retrievers_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real store; its retrievers are wrapped (not replaced) to record the pools they ran under."""
    store = SQLiteFaissStore(tmp_path / "s", DIM)
    store.upsert(*doc("a", "docs/a.md", ["seal kit KP-3402-07", "warranty 24 months"], seed=1))
    seen: list[set[int]] = []
    for name in ("dense", "lexical"):
        real = getattr(store, name)

        def recording(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(_threads())
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, name, recording)
    kb = SimpleNamespace(store=store)
    with threadpool_limits(limits=2):
        dense = gather(kb, "seal kit", 5, mode="dense", query_vector=unit(1)[0])  # type: ignore[arg-type]
        lexical = gather(kb, "KP-3402-07", 5, mode="bm25")  # type: ignore[arg-type]
    assert dense.dense and store.hits([dense.dense[0][0]])[dense.dense[0][0]].text == "seal kit KP-3402-07"
    assert lexical.bm25 and store.hits([lexical.bm25[0][0]])[lexical.bm25[0][0]].source == "docs/a.md"
    store.close()
    assert seen == [{1}, {1}]
