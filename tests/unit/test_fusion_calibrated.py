"""Score-calibrated fusion, query-adaptive weights and the pure ``fuse`` step of hybrid retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from industry_expert.config import RetrieveSettings
from industry_expert.retrieve.fusion import (
    adaptive_weights,
    contributions,
    fused_order,
    identifier_share,
    name_share,
    normalize_scores,
)
from industry_expert.retrieve.hybrid import Candidates, fuse, fusion_method, weights_for
from industry_expert.store.text_query import STOP_WORDS


def test_normalize_scores() -> None:
    assert normalize_scores([4.0, 2.0, 0.0], "minmax").tolist() == [1.0, 0.5, 0.0]
    assert normalize_scores([3.0, 3.0], "minmax").tolist() == [1.0, 1.0]
    z = normalize_scores([1.0, 2.0, 3.0], "zscore")
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown score normalization"):
        normalize_scores([1.0], "softmax")


def test_score_fusion_puts_absent_items_at_the_lists_floor() -> None:
    dense = [("a", 0.9), ("b", 0.7), ("c", 0.5)]
    bm25 = [("c", 20.0), ("d", 10.0), ("b", 0.0)]
    c = contributions([dense, bm25], [0.6, 0.4], "score", normalization="minmax")
    assert c["a"] == pytest.approx([0.6, 0.0])  # absent from BM25: its floor (0 after min-max)
    assert c["c"] == pytest.approx([0.0, 0.4]) and c["b"] == pytest.approx([0.3, 0.0])
    z = contributions([dense, bm25], [1.0, 1.0], "score", normalization="zscore")
    floor = float(normalize_scores([20.0, 10.0, 0.0], "zscore").min())
    assert floor < 0 and z["a"][1] == pytest.approx(floor)
    assert [item for item, _ in fused_order(c)][:2] == ["a", "c"]


def test_rrf_contributions_match_the_formula() -> None:
    c = contributions([[("a", 5.0), ("b", 1.0)], [("b", 3.0)]], [2.0, 1.0], "rrf", k=10)
    assert c["a"] == pytest.approx([2 / 11, 0.0]) and c["b"] == pytest.approx([2 / 12, 1 / 11])
    assert contributions([[("a", 1.0)], []], [0.0, 1.0], "rrf")["a"] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("query", "share"),
    [
        ("How do I stash my changes including untracked files?", 0.0),
        ("What does error E-214 mean on the KF-340?", 0.5),
        ("git pull --rebase vs pull.rebase", 0.4),
        ("SQLITE_BUSY", 1.0),
        ("what does json_extract() return", 0.5),
        ("", 0.0),
    ],
)
def test_identifier_share(query: str, share: float) -> None:
    assert identifier_share(query, STOP_WORDS) == pytest.approx(share)


def test_adaptive_weights_move_dense_weight_to_bm25() -> None:
    assert adaptive_weights(0.8, 0.2, 0.0, 1.0) == (0.8, 0.2)
    dense, bm25 = adaptive_weights(0.8, 0.2, 0.5, 1.0)
    assert dense == pytest.approx(0.4) and bm25 == pytest.approx(0.6)
    s = RetrieveSettings(fusion="score", weight_dense=0.8, weight_bm25=0.2, adaptive=1.0)
    assert weights_for(Candidates("how do pumps work"), s)[:2] == [0.8, 0.2]
    assert weights_for(Candidates("KP-3402-07"), s)[:2] == pytest.approx([0.0, 1.0])


def test_name_share_counts_capitalised_words_in_few_chunks() -> None:
    # 1000 chunks, rare_df 0.02: a word in at most 20 chunks is rare
    df = {"part": 90, "failed": 60, "gmunden": 3, "plant": 70, "zzyzx": 0}
    q = "Which part failed at the Gmunden plant near Zzyzx?"
    assert name_share(q, df, 1000, 0.02) == pytest.approx(0.2)  # Zzyzx: capitalised but in no chunk
    assert name_share(q.replace("Gmunden", "gmunden"), df, 1000, 0.02) == 0.0  # not capitalised
    assert name_share("Gmunden pumps?", {"gmunden": 3, "pumps": 50}, 1000, 0.02) == 0.0  # first word
    assert name_share(q, {**df, "gmunden": 400}, 1000, 0.02) == 0.0  # common in this KB
    assert name_share(q, df, 1000, 0.0) == 0.0 and name_share(q, {}, 1000, 0.02) == 0.0
    assert name_share("Is the Kestrel one?", {"kestrel": 2, "one": 1}, 40, 0.02) == 0.5  # >= 2 chunks


def test_names_lean_the_weights_lexical_as_identifiers_do() -> None:
    s = RetrieveSettings(fusion="score", weight_dense=0.8, weight_bm25=0.2, adaptive=1.0, rare_df=0.02)
    df = {"part": 90, "failed": 60, "gmunden": 2, "plant": 70}
    named = Candidates("Which part failed at the Gmunden plant", term_df=df, chunks=1000)
    assert weights_for(named, s)[:2] == pytest.approx([0.6, 0.4])  # 1 of 4 words: 0.8 * 0.25 moves
    assert weights_for(named, s.model_copy(update={"rare_df": 0.0}))[:2] == [0.8, 0.2]


def test_fuse_is_pure_and_follows_the_settings() -> None:
    """A chunk that only BM25 finds wins for a code query under adaptive weights, loses to the
    dense favourite for a prose question with the same candidates."""
    cands = dict(dense=[(1, 0.80), (2, 0.60), (3, 0.55)], bm25=[(3, 12.0), (2, 1.0), (1, 0.5)])
    s = RetrieveSettings(fusion="score", weight_dense=0.7, weight_bm25=0.3, weight_summary=0.0, adaptive=1.0)
    prose, _ = fuse(Candidates("which pump is the quietest one", **cands), s)
    code, contrib = fuse(Candidates("KF-340 E-214", **cands), s)
    assert prose[0][0] == 1 and code[0][0] == 3
    assert all(score == pytest.approx(sum(contrib[cid])) for cid, score in code)
    again, _ = fuse(Candidates("KF-340 E-214", **cands), s)
    assert again == code
    old = RetrieveSettings(fusion="rrf", rrf_k=10, weight_dense=0.5, weight_bm25=1.5, weight_summary=0.0)
    assert np.isclose(fuse(Candidates("x", **cands), old)[0][0][1], 0.5 / 13 + 1.5 / 11)


def test_a_lone_lexical_hit_still_counts_in_score_fusion() -> None:
    """A code that occurs in one chunk only: BM25 returns one hit (no spread to calibrate). It
    must still lift that chunk above the ones BM25 did not return, for either normalization."""
    dense = [("b", 0.52), ("a", 0.51)] + [(f"x{i}", 0.5 - i / 50) for i in range(10)]
    lexical = [("a", 7.3)]
    for method in ("zscore", "minmax"):
        contrib = contributions([dense, lexical], [0.5, 0.5], "score", normalization=method)
        assert fused_order(contrib)[0][0] == "a", method
        assert contrib["b"][1] == 0.0 and contrib["a"][1] == 0.5


def test_tiny_kbs_fall_back_to_rank_fusion() -> None:
    """Two dense candidates cannot be calibrated (z-scores of any two values are +-1): a KB of a
    few chunks is fused by rank, so the one chunk BM25 found (a part number) still wins."""
    s = RetrieveSettings(fusion="score", adaptive=0.0)
    c = Candidates(query="seal kit part number", dense=[(2, 0.52), (1, 0.50)], bm25=[(1, 7.3)], summary=[])
    ranked, _ = fuse(c, s)
    assert ranked[0][0] == 1
    many = [(i, 0.9 - i / 100) for i in range(2, 12)]
    big = Candidates(query="seal kit part number", dense=many, bm25=[(11, 7.3)], summary=[])
    assert fusion_method(big, s) == "score"
