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
