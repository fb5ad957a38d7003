from __future__ import annotations

import numpy as np
import pytest

from industry_expert.config import ChunkSettings, Settings
from industry_expert.errors import ConfigError
from industry_expert.evaluate.metrics import (
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    source_matches,
)
from industry_expert.retrieve.fusion import collapse_near_duplicates, order_by_documents, rrf
from industry_expert.store.text_query import fts_query, terms


def test_rrf_rewards_agreement_and_weights() -> None:
    fused = dict(rrf([["a", "b", "c"], ["b", "c", "a"]], k=60))
    assert max(fused, key=fused.__getitem__) == "b"
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    only_first = rrf([["a"], ["b"]], weights=[1.0, 0.0])
    assert only_first[0][0] == "a" and only_first[1][1] == 0.0


def test_order_by_documents() -> None:
    doc_of = {1: "x", 2: "y", 3: "x", 4: "z"}
    assert order_by_documents([1, 2, 3, 4], doc_of, {"y": 1, "x": 2}) == [2, 1, 3]


def test_collapse_near_duplicates() -> None:
    v = np.array([[1, 0], [0.999, 0.0447], [0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert collapse_near_duplicates([10, 11, 12], v, 0.95) == [10, 12]
    assert collapse_near_duplicates([10, 11, 12], v, 1.0) == [10, 11, 12]


def test_fts_query_drops_stop_words_keeps_codes() -> None:
    assert terms("What does error E-214 mean for the KF-340?") == ["error", "e-214", "mean", "kf-340"]
    assert fts_query("the of") == ""
    assert fts_query('say "hi"') == '"say" OR "hi"'


def test_retrieval_metrics() -> None:
    docs = ["data/a.md", "data/b.pdf", "data/c.csv"]
    assert source_matches("examples/x/data/manuals/a.md", "manuals/a.md")
    assert not source_matches("examples/x/data/manuals/aa.md", "a.md")
    assert hit_at_k(docs, ["b.pdf"], 1) == 0.0 and hit_at_k(docs, ["b.pdf"], 2) == 1.0
    assert reciprocal_rank(docs, ["c.csv"]) == pytest.approx(1 / 3)
    assert recall_at_k(docs, ["a.md", "z.md"], 3) == 0.5
    assert ndcg_at_k(docs, ["a.md"]) == 1.0
    assert ndcg_at_k(docs, ["b.pdf"]) == pytest.approx(1 / np.log2(3))


def test_settings_validation_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="overlap_tokens"):
        ChunkSettings(max_tokens=100, overlap_tokens=60)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("chunking:\n  max_tokens: 120\nretrieve:\n  k: 7\n", encoding="utf-8")
    s = Settings.load(cfg)
    assert s.chunking.max_tokens == 120 and s.retrieve.k == 7 and s.embedder == "minilm"
    cfg.write_text("chunking:\n  max_tokenz: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="c.yaml: chunking.max_tokenz: unknown setting"):
        Settings.load(cfg)
    cfg.write_text("chunking: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="c.yaml: invalid config file"):
        Settings.load(cfg)
