"""The default store passes the shared Store contract suite."""

from __future__ import annotations

import pytest

from industry_expert.store.sqlite_faiss import SQLiteFaissStore
from industry_expert.testing.store_contract import StoreContract


class TestSQLiteFaissStore(StoreContract):
    @pytest.fixture
    def make_store(self):  # type: ignore[no-untyped-def]
        return SQLiteFaissStore


class TestSQLiteFaissStoreHNSW(StoreContract):
    """The same contract with the approximate (HNSW) index forced on."""

    @pytest.fixture
    def make_store(self, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
        monkeypatch.setattr("industry_expert.store.ann.EXACT_BELOW", 0)
        return SQLiteFaissStore


def test_common_query_terms_are_pruned_on_large_kbs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.testing.store_contract import doc

    monkeypatch.setattr("industry_expert.store.sqlite_faiss.PRUNE_DF", 3)
    store = SQLiteFaissStore(tmp_path / "s", 16)
    texts = [f"pump housing number {i}" for i in range(10)] + ["pump with the rare zebra valve"]
    store.upsert(*doc("a", "a.md", texts, seed=1))
    assert store._prunable(["pumps", "zebra", "valve", "housing"]) == ["zebra", "valve"]
    assert store._prunable(["pump", "housing", "number"]) == ["housing", "number"]  # the 2 rarest
    top = store.lexical("pump zebra valve housing", 1)[0][0]
    assert store.hits([top])[top].text == "pump with the rare zebra valve"
    store.close()


def test_pruning_reads_common_terms_from_the_snapshot_sync_takes(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Counting a common term's chunks live reads its whole posting list (13 ms a query at 1M
    chunks): ``sync`` keeps the common terms' counts, used while the KB stays within 10% of the
    size they were taken at, live counting otherwise."""
    from industry_expert.testing.store_contract import doc

    monkeypatch.setattr("industry_expert.store.sqlite_faiss.PRUNE_DF", 3)
    store = SQLiteFaissStore(tmp_path / "s", 16)
    texts = [f"pump housing number {i}" for i in range(10)] + ["pump with the rare zebra valve"]
    store.upsert(*doc("a", "a.md", texts, seed=1))
    query = ["pumps", "zebra", "valve", "housing"]
    live = store._prunable(query)
    assert live == ["zebra", "valve"] and not store._df_snapshot_fresh()
    store.sync()
    assert store._df_snapshot_fresh() and store._prunable(query) == live
    assert dict(store.con.execute("SELECT term, df FROM term_df WHERE term IN ('pump', 'zebra')")) == {
        "pump": 11,
        "zebra": 1,
    }
    store.con.execute("UPDATE term_df SET df = 99 WHERE term = 'valv'")  # porter stem: proves it is read
    assert store._prunable(query) == ["zebra"] + ["housing"]
    store.upsert(*doc("b", "b.md", ["another pump", "a valve seat"], seed=2))  # 11 -> 13 chunks: stale
    assert not store._df_snapshot_fresh() and store._prunable(query) == ["zebra", "valve"]
    store.sync()
    assert store._df_snapshot_fresh() and store._prunable(query) == ["zebra", "valve"]
    assert store.con.execute("SELECT df FROM term_df WHERE term = 'valv'").fetchone() == (2,)
    store.close()
