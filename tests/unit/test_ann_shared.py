"""Handles of one embedded KB in one process share the ANN index read from its file (a server's
concurrent requests each borrow a handle; at 1M chunks the index is ~2 GB), and a handle that
catches up changes a copy, never the index others are searching."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.store.sqlite_faiss import SQLiteFaissStore
from industry_expert.testing.store_contract import DIM, doc


def test_handles_share_the_loaded_index_and_catch_up_on_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("industry_expert.store.ann.EXACT_BELOW", 0)  # HNSW from the first chunk
    writer = SQLiteFaissStore(tmp_path / "kb", DIM)
    writer.upsert_many([doc(f"d{i}", f"d{i}.md", [f"text {i} a", f"text {i} b"], seed=i) for i in range(20)])
    writer.sync()
    a, b = SQLiteFaissStore(tmp_path / "kb", DIM), SQLiteFaissStore(tmp_path / "kb", DIM, hnsw_ef_search=8)
    _, _, vecs, _ = doc("d3", "d3.md", ["text 3 a", "text 3 b"], seed=3)
    first_a, first_b = a.dense(vecs[0], 1)[0], b.dense(vecs[0], 1)[0]
    assert a.ann.index is b.ann.index and a.ann.shared
    assert first_a[0] == first_b[0] and a.hits([first_a[0]])[first_a[0]].doc_id == "d3"
    writer.upsert(*doc("late", "late.md", ["late arrival"], seed=99))  # no sync: the file is stale
    _, _, late, _ = doc("late", "late.md", ["late arrival"], seed=99)
    hit = a.dense(late[0], 1)[0]  # a catches up by adding to its own copy
    assert a.hits([hit[0]])[hit[0]].doc_id == "late"
    assert a.ann.index is not b.ann.index and b.ann.index.ntotal == 40 and a.ann.index.ntotal == 41
    for s in (writer, a, b):
        s.close()


def test_search_width_is_a_store_option(tmp_path: Path) -> None:
    from industry_expert.config import Settings
    from industry_expert.store import registry

    settings = Settings.from_dict({"store": {"options": {"hnsw_ef_search": 64}}})
    store = registry.open_store(tmp_path / "kb", DIM, "sqlite-faiss", settings.store.options)
    assert store.ann.ef_search == 64  # type: ignore[attr-defined]
    store.close()


def test_postgres_search_width_beyond_pgvector_limit_is_one_clear_error(tmp_path: Path) -> None:
    from industry_expert.errors import KBError
    from industry_expert.store.postgres import PostgresStore

    with pytest.raises(KBError, match=r"hnsw_ef_search must be 1\.\.1000 \(pgvector's limit\), got 1600"):
        PostgresStore(tmp_path / "kb", DIM, dsn="postgresql://nobody@127.0.0.1:1/none", hnsw_ef_search=1600)
