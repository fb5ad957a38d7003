"""The reranking stage's pure parts: MaxSim, the fused reorder of the top candidates, and which
token rows count."""

from __future__ import annotations

import numpy as np
import pytest

from industry_expert.errors import ConfigError
from industry_expert.retrieve.rerank import TokenVectors, maxsim, rerank, token_vectors


def unit(*rows: list[float]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_maxsim_averages_each_query_tokens_best_match() -> None:
    query = unit([1, 0, 0], [0, 1, 0])
    doc = unit([1, 0, 0], [0, 0, 1], [0, 1, 1])
    # token 1 matches exactly (1.0); token 2's best is [0, 1, 1] (cos 0.7071)
    assert maxsim(query, doc) == pytest.approx((1 + 2**-0.5) / 2, abs=1e-6)
    assert maxsim(query, unit([0, 0, 1])) == pytest.approx(0.0, abs=1e-6)


def test_rerank_fuses_standardised_scores_over_the_top_only() -> None:
    ranked = [("a", 3.0), ("b", 2.0), ("c", 1.0), ("d", 0.5)]
    signal = [0.1, 0.2, 0.9]  # "c" is far the best by the signal
    assert rerank(ranked, signal, 0.0) == ranked  # weight 0: the hybrid as it was
    alone = rerank(ranked, signal, float("inf"))
    assert [x for x, _ in alone] == ["c", "b", "a", "d"]  # the fourth was not scored: stays last
    fused = rerank(ranked, signal, 1.0)
    # z(hybrid) = [1.22, 0, -1.22]; z(signal) = [-0.84, -0.56, 1.40]: c 0.18, a 0.38, b -0.56
    assert [x for x, _ in fused] == ["a", "c", "b", "d"]
    assert [x for x, _ in rerank(ranked, signal, 3.0)] == ["c", "a", "b", "d"]
    assert rerank(ranked[:1], [0.5], 3.0) == ranked[:1]


def test_content_rows_drop_special_and_punctuation_tokens() -> None:
    vectors = np.eye(5, dtype=np.float32)
    tv = TokenVectors(vectors, ["[CLS]", "torque", "?", "##nut", "[SEP]"], [(0, 0)] * 5, vectors[0])
    assert np.array_equal(tv.content(), vectors[[1, 3]])
    only_marks = TokenVectors(vectors[:3], ["[CLS]", "?", "[SEP]"], [(0, 0)] * 3, vectors[0])
    assert np.array_equal(only_marks.content(), vectors[[1]])  # never empty


def test_an_embedder_without_token_vectors_is_refused_in_one_line() -> None:
    class Remote:
        id = "openai:text-embedding-3-small"

    with pytest.raises(ConfigError, match="openai:text-embedding-3-small"):
        token_vectors(Remote(), ["q"])


def test_items_below_the_reranked_ones_keep_their_order_and_score_lower() -> None:
    """With more hits than the reranked depth, scores stay best-first across the boundary."""
    ranked = [(c, s) for c, s in zip("abcdefg", [3.0, 2.5, 2.4, 1.0, 0.9, 0.2, 0.1], strict=True)]
    out = rerank(ranked, [0.1, 0.9, 0.5, 0.3], 3.0)
    assert [c for c, _ in out[4:]] == ["e", "f", "g"] and sorted(c for c, _ in out[:4]) == list("abcd")
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True)


def test_the_embedder_keeps_the_same_content_rows_as_the_rerank() -> None:
    """Ingest keeps ``onnx_embedder.content_rows``; the benchmarks' ``TokenVectors.content``
    must pick the same rows."""
    from industry_expert.models.onnx_embedder import content_rows

    vectors = np.eye(5, dtype=np.float32)
    for tokens in (["[CLS]", "torque", "?", "##nut", "[SEP]"], ["[CLS]", "?", "[SEP]"], ["[CLS]", "[SEP]"]):
        tv = TokenVectors(vectors[: len(tokens)], tokens, [(0, 0)] * len(tokens), vectors[0])
        assert np.array_equal(tv.content(), vectors[content_rows(tokens)])
