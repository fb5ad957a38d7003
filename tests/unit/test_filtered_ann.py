"""Filtered dense search on the approximate path: when a filter leaves more chunks than the exact
limit (20k in production; lowered here so the test stays small), the HNSW index is searched and
its results filtered. The answer must still be k hits that match the filter, the true nearest ones,
even when the query sits among chunks the filter excludes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from industry_expert.store.sqlite_faiss import SQLiteFaissStore
from industry_expert.testing.store_contract import DIM, doc

N = 1500  # chunks per document


def _cluster(centre: np.ndarray, n: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(scale=0.35, size=(n, DIM))
    v = (centre + noise).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("industry_expert.store.ann.EXACT_BELOW", 500)  # HNSW index
    monkeypatch.setattr("industry_expert.store.sqlite_faiss.EXACT_FILTERED_MAX", 1000)  # ANN + filter
    s = SQLiteFaissStore(tmp_path / "s", DIM)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(2, DIM))
    for i, (name, type_) in enumerate((("parts", "csv"), ("manual", "markdown"))):
        record, chunks, _, summary = doc(name, f"{name}.x", [f"{name} chunk {j}" for j in range(N)], type_)
        s.upsert(record, chunks, _cluster(centres[i], N, seed=i), summary)
    s.sync()
    yield s, centres
    s.close()


def test_filtered_ann_returns_k_true_neighbours_that_match(store) -> None:  # type: ignore[no-untyped-def]
    s, centres = store
    csv_ids = s._allowed({"type": "csv"})
    assert len(csv_ids) == N > 1000  # above the exact limit: the approximate path
    exact_vectors = s.vectors(csv_ids)
    for query in (centres[0], centres[1]):  # near the allowed chunks, then near the excluded ones
        q = (query / np.linalg.norm(query)).astype(np.float32)
        hits = s.dense(q, 5, {"type": "csv"})
        assert s.ann.kind != "flat"
        want = [csv_ids[i] for i in np.argsort(-(exact_vectors @ q))[:5]]
        assert len(hits) == 5 and {cid for cid, _ in hits} <= set(csv_ids)
        assert len({cid for cid, _ in hits} & set(want)) >= 4  # HNSW recall, not a random subset
