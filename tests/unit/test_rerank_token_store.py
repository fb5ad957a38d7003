"""The rerank's token-vector sidecar (``store/token_vectors.py``): int8 per row, rows keyed by
document and encoded text, replaced and removed per document."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from industry_expert.store.token_vectors import TOKENS_DB, TokenVectorStore, dequantize, quantize


def units(rows: int, seed: int, dim: int = 384) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def q(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return quantize(units(rows, seed))


def test_int8_rows_keep_cosines_within_a_hundredth() -> None:
    a, b = units(40, 1), units(30, 2)
    rows, scale = quantize(b)
    assert rows.dtype == np.int8 and scale.shape == (30,)
    back = dequantize(rows, scale)
    assert np.allclose(np.linalg.norm(back, axis=1), 1, atol=1e-5)
    assert np.abs(a @ back.T - a @ b.T).max() < 0.01


def test_rows_are_found_only_for_their_document_and_exact_text(tmp_path: Path) -> None:
    store = TokenVectorStore(tmp_path)
    assert store.get([("d1", "x")]) == [None] and not (tmp_path / TOKENS_DB).exists()  # reads never create
    store.replace("d1", ["alpha", "beta", "alpha"], [q(3, 1), q(5, 2), q(3, 1)])
    got = store.get([("d1", "beta"), ("d1", "alpha"), ("d2", "beta"), ("d1", "beta ")])
    assert got[0] is not None and got[0].shape == (5, 384) and got[1] is not None
    assert got[2] is None and got[3] is None
    assert float((got[0] * units(5, 2)).sum(axis=1).min()) > 0.999
    assert store.stats()["rows"] == 2  # one row per distinct text of a document


def test_replace_delete_and_prune_work_per_document(tmp_path: Path) -> None:
    store = TokenVectorStore(tmp_path)
    store.replace("d1", ["a", "b"], [q(2, 1), q(2, 2)])
    store.replace("d2", ["c"], [q(2, 3)])
    store.replace("d1", ["b2"], [q(2, 4)])  # a re-ingested document: only its new rows stay
    assert store.get([("d1", "a"), ("d1", "b2"), ("d2", "c")])[0] is None
    assert store.stats()["rows"] == 2
    store.add([("d3", "e")], [q(1, 5)])
    assert store.prune({"d1", "d2"}) == 1 and store.delete(["d1"]) == 1
    assert [m is None for m in store.get([("d1", "b2"), ("d2", "c"), ("d3", "e")])] == [True, False, True]
    store.close()
    assert TokenVectorStore(tmp_path).stats()["rows"] == 1
