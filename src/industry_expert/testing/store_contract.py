"""Contract tests for the Store Protocol. A backend's test module subclasses ``StoreContract``
and provides a ``make_store(path, dim)`` fixture; every test here must pass unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from industry_expert.store.base import Store
from industry_expert.types import Chunk, DocumentRecord

DIM = 16
MakeStore = Callable[[Path, int], Store]


def unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def doc(
    doc_id: str,
    source: str,
    texts: list[str],
    type_: str = "markdown",
    meta: dict | None = None,
    seed: int = 0,
) -> tuple[DocumentRecord, list[Chunk], np.ndarray, np.ndarray]:
    record = DocumentRecord(
        doc_id,
        source,
        "/abs/" + source,
        type_,
        f"Title {doc_id}",
        f"h-{doc_id}",
        f"summary of {doc_id}: " + " ".join(texts)[:80],
        file_hash=f"f-{doc_id}",
        metadata={"owner": "ops", **(meta or {})},
    )
    chunks = [
        Chunk(
            doc_id, i, t, f"Title {doc_id} > S{i}", page=i + 1 if type_ == "pdf" else None, metadata={"n": i}
        )
        for i, t in enumerate(texts)
    ]
    return record, chunks, unit(seed, len(texts)), unit(seed + 1000)[0]


class StoreContract:
    @pytest.fixture
    def store(self, tmp_path: Path, make_store: MakeStore):  # type: ignore[no-untyped-def]
        s = make_store(tmp_path / "store", DIM)
        yield s
        s.close()

    def _fill(self, store: Store) -> None:
        store.upsert(*doc("a", "docs/a.md", ["impeller torque 45 Nm", "grease interval 2000 h"], seed=1))
        store.upsert(*doc("b", "docs/b.pdf", ["seal kit KP-3402-07", "warranty 24 months"], "pdf", seed=2))
        store.upsert(
            *doc("c", "tables/parts.csv", ["price list impeller"], "csv", meta={"region": "EU"}, seed=3)
        )

    def test_upsert_and_read_back(self, store: Store) -> None:
        self._fill(store)
        docs = {d.doc_id: d for d in store.documents()}
        assert set(docs) == {"a", "b", "c"}
        assert docs["b"].n_chunks == 2 and docs["b"].type == "pdf"
        assert store.get_document("c").metadata["region"] == "EU"  # type: ignore[union-attr]
        assert store.get_document("zzz") is None
        assert store.stats()["chunks"] == 5

    def test_dense_returns_exact_neighbour(self, store: Store) -> None:
        self._fill(store)
        record, chunks, vecs, _ = doc(
            "b", "docs/b.pdf", ["seal kit KP-3402-07", "warranty 24 months"], "pdf", seed=2
        )
        hits = store.dense(vecs[1], 3)
        top = store.hits([hits[0][0]])[hits[0][0]]
        assert (
            top.text == "warranty 24 months" and top.page == 2 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
        )
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)

    def test_lexical_bm25_and_codes(self, store: Store) -> None:
        self._fill(store)
        hit = store.lexical("Which kit is KP-3402-07?", 5)
        assert store.hits([hit[0][0]])[hit[0][0]].source == "docs/b.pdf"
        ranked = store.lexical("impeller", 5)
        assert len(ranked) == 2
        assert store.lexical("the of and", 5) == []

    def test_term_frequencies_count_chunks_per_query_term(self, store: Store) -> None:
        self._fill(store)
        df, total = store.term_frequencies("Which Impeller grease for KP-3402-07, zzyzx?")
        assert total == 5 and df == {"impeller": 2, "grease": 1, "kp-3402-07": 1, "zzyzx": 0}
        assert store.term_frequencies("the of and") == ({}, 5)

    def test_section_path_is_searchable(self, store: Store) -> None:
        self._fill(store)
        ids = [i for i, _ in store.lexical("S1", 10)]
        assert {store.hits(ids)[i].section.split(" > ")[-1] for i in ids} == {"S1"}

    def test_filters(self, store: Store) -> None:
        self._fill(store)
        q = unit(99)[0]

        def sources(f: dict[str, str]) -> set[str]:
            ids = [i for i, _ in store.dense(q, 10, f)]
            return {h.source for h in store.hits(ids).values()}

        assert sources({"type": "pdf"}) == {"docs/b.pdf"}
        assert sources({"source": "docs/*"}) == {"docs/a.md", "docs/b.pdf"}
        assert sources({"region": "EU"}) == {"tables/parts.csv"}
        assert sources({"owner": "ops", "type": "csv"}) == {"tables/parts.csv"}
        assert sources({"n": "1"}) == {"docs/a.md", "docs/b.pdf"}
        assert sources({"region": "US"}) == set()
        lex = store.lexical("impeller", 10, {"type": "csv"})
        assert {store.hits([i])[i].source for i, _ in lex} == {"tables/parts.csv"}

    def test_replace_is_whole_and_delete_removes(self, store: Store) -> None:
        self._fill(store)
        store.upsert(*doc("a", "docs/a.md", ["new text only"], seed=7))
        assert store.get_document("a").n_chunks == 1  # type: ignore[union-attr]
        assert store.lexical("grease", 5) == []
        assert store.delete(["b"]) == 2
        assert store.get_document("b") is None
        dense_ids = [i for i, _ in store.dense(unit(2, 2)[0], 10)]
        assert all(store.hits([i])[i].doc_id != "b" for i in dense_ids)
        assert store.stats()["documents"] == 2

    def test_upsert_many_replaces_each_document_whole(self, store: Store) -> None:
        self._fill(store)
        store.upsert_many(
            [
                doc("a", "docs/a.md", ["first version"], seed=20),
                doc("d", "docs/d.md", ["bulk loaded gearbox", "second chunk"], seed=21),
                doc("a", "docs/a.md", ["final version of a"], seed=22),  # the last one wins
            ]
        )
        assert store.get_document("a").n_chunks == 1  # type: ignore[union-attr]
        assert store.lexical("grease", 5) == [] and store.lexical("first", 5) == []
        top = store.lexical("gearbox", 1)[0][0]
        assert store.hits([top])[top].doc_id == "d"
        assert store.stats()["chunks"] == 1 + 2 + 2 + 1
        record, chunks, vecs, svec = doc("e", "docs/e.md", ["x", "y"], seed=23)
        with pytest.raises(ValueError):  # one bad document: nothing of the batch is written
            store.upsert_many([doc("f", "docs/f.md", ["fine"], seed=24), (record, chunks, vecs[:1], svec)])
        assert store.get_document("f") is None and store.stats()["documents"] == 4

    def test_failed_upsert_leaves_previous_state(self, store: Store) -> None:
        self._fill(store)
        record, chunks, vecs, svec = doc("a", "docs/a.md", ["x", "y"], seed=5)
        with pytest.raises(ValueError):
            store.upsert(record, chunks, vecs[:1], svec)
        assert store.get_document("a").n_chunks == 2  # type: ignore[union-attr]
        assert len(store.lexical("grease", 5)) == 1

    def test_summaries(self, store: Store) -> None:
        self._fill(store)
        _, _, _, svec = doc("c", "tables/parts.csv", ["price list impeller"], seed=3)
        assert store.summary_dense(svec, 1)[0][0] == "c"
        assert store.summary_lexical("warranty", 3)[0][0] == "b"

    def test_persists_and_catches_up(self, tmp_path: Path, make_store: MakeStore) -> None:
        s = make_store(tmp_path / "p", DIM)
        self._fill(s)
        s.sync()
        s.close()
        s = make_store(tmp_path / "p", DIM)
        s.upsert(*doc("d", "docs/d.md", ["late arrival"], seed=11))
        s.close()
        s = make_store(tmp_path / "p", DIM)  # index file predates 'd': must catch up
        _, _, vecs, _ = doc("d", "docs/d.md", ["late arrival"], seed=11)
        hit = s.dense(vecs[0], 1)[0]
        assert s.hits([hit[0]])[hit[0]].doc_id == "d"
        assert s.stats()["documents"] == 4
        s.close()

    def test_chunk_ids_list_every_chunk(self, store: Store) -> None:
        self._fill(store)
        ids = store.chunk_ids()
        assert len(ids) == 5 and ids == sorted(ids)
        assert {h.doc_id for h in store.hits(ids).values()} == {"a", "b", "c"}

    def test_vectors_round_trip(self, store: Store) -> None:
        self._fill(store)
        _, _, vecs, _ = doc("a", "docs/a.md", ["impeller torque 45 Nm", "grease interval 2000 h"], seed=1)
        ids = [i for i, _ in store.dense(vecs[0], 1)]
        np.testing.assert_allclose(store.vectors(ids)[0], vecs[0], atol=1e-6)

    def test_summary_vectors_and_run_history(self, store: Store) -> None:
        self._fill(store)
        _, _, _, svec = doc("c", "tables/parts.csv", ["price list impeller"], seed=3)
        got = store.summary_vectors(["c", "a"])
        assert got.shape == (2, DIM)
        np.testing.assert_allclose(got[0], svec, atol=1e-6)
        store.log_run(10.0, {"chunks_added": 5}, finished=12.5)
        assert store.runs()[-1] == {"started": 10.0, "finished": 12.5, "report": {"chunks_added": 5}}
