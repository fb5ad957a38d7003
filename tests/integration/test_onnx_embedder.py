"""The ONNX embedder: same vectors as torch, exported once, one thread per query, and a query path
that never imports the training stack; ``expert search --explain``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from industry_expert.models.onnx_embedder import OnnxEmbedder
from industry_expert.models.onnx_export import exported_path
from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow
TEXTS = [
    "x",
    "What is the impeller nut torque on the KF-340?",
    " ".join(["A long passage about seals, bearings and flushing procedures."] * 40),  # truncated
    "Kurz: Dichtung tauschen.",
]


def test_onnx_export_reproduces_torch_and_is_cached(
    tiny_st_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IE_CACHE", str(tmp_path))
    onnx_file = exported_path(tiny_st_model)
    assert onnx_file.is_file() and str(onnx_file).startswith(str(tmp_path))
    mtime = onnx_file.stat().st_mtime_ns
    assert exported_path(tiny_st_model).stat().st_mtime_ns == mtime  # cached, not re-exported
    monkeypatch.setenv("IE_NUM_THREADS", "2")
    onnx = OnnxEmbedder(tiny_st_model, onnx_file, "tiny", "onnx-fp32")
    torch_vectors = SentenceTransformerEmbedder(str(tiny_st_model)).embed_batch(TEXTS * 3)
    one = onnx.embed_batch(TEXTS[1:2])
    assert set(onnx._sessions) == {1}  # a query runs on a one-thread session
    many = onnx.embed_batch(TEXTS * 3)
    assert set(onnx._sessions) == {1, 2}  # batches use the cores
    cosine = np.sum(many * torch_vectors, axis=1)
    assert cosine.min() > 0.99999, cosine
    assert np.allclose(one[0], many[1], atol=1e-5) and onnx.dim == torch_vectors.shape[1]


def test_query_path_imports_no_training_stack(sample_kb: Path) -> None:
    manifest = json.loads((sample_kb / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedder"]["variant"] == "onnx-fp32"
    assert manifest["embedder"]["id"] == "sentence-transformers/all-MiniLM-L6-v2"
    code = (
        "import sys; from industry_expert.retrieve.hybrid import search;"
        f"hits = search('impeller nut torque', {str(sample_kb)!r}, k=3);"
        "print(len(hits), [m for m in ('torch', 'transformers', 'bitsandbytes', 'peft',"
        " 'sentence_transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "[]"]


def test_search_explain(sample_kb: Path) -> None:
    expert = [
        sys.executable,
        "-m",
        "industry_expert",
        "search",
        "KP-3402-07 seal kit",
        "--kb",
        str(sample_kb),
    ]
    shown = subprocess.run([*expert, "-k", "2", "--explain"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "dense #" in shown.stdout and "bm25 #" in shown.stdout and "fusion " in shown.stdout
    raw = subprocess.run([*expert, "-k", "3", "--json"], capture_output=True, text=True, timeout=120)
    hits = json.loads(raw.stdout)
    assert all("rerank" in h["explain"] for h in hits)  # the default reranks the fused top 10
    for hit in hits:
        fused = {k: v for k, v in hit["explain"].items() if k not in ("fusion", "rerank")}
        rr = hit["explain"]["rerank"]  # the fused score is the sum of the contributions ...
        assert rr["fused_score"] == pytest.approx(sum(v["contribution"] for v in fused.values()), abs=1e-4)
        assert hit["ranks"] == {k: v["rank"] for k, v in fused.items()}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)  # ... the
    # hit's score is the rerank's (fused and MaxSim, standardised over the top 10)
    fused_only = subprocess.run(
        [*expert, "-k", "3", "--json", "--rerank", "none"], capture_output=True, text=True
    )
    for hit in json.loads(fused_only.stdout):
        parts = [v["contribution"] for k, v in hit["explain"].items() if k != "fusion"]
        assert "rerank" not in hit["explain"] and hit["score"] == pytest.approx(sum(parts), abs=1e-4)


def test_fusion_settings_take_effect(sample_kb: Path) -> None:
    """fusion / normalization / adaptive each change what the search computes (flags and API)."""
    from industry_expert.config import RetrieveSettings
    from industry_expert.retrieve.hybrid import search

    query = "KP-3402-07 seal kit"  # an identifier: adaptive weights lean to BM25
    expert = [sys.executable, "-m", "industry_expert", "search", query, "--kb", str(sample_kb), "--json"]
    expert += ["--rerank", "none"]  # the fusion's own scores (the rerank reorders its top 10)
    fused = RetrieveSettings(rerank="none")
    rrf = json.loads(
        subprocess.run([*expert, "--fusion", "rrf"], capture_output=True, text=True, timeout=120).stdout
    )
    top = rrf[0]["explain"]
    assert top["fusion"]["method"] == "rrf"
    weights = top["fusion"]["weights"]
    expected = sum(weights[n] / (10 + e["rank"]) for n, e in top.items() if n != "fusion" and e["rank"])
    assert rrf[0]["score"] == pytest.approx(expected, abs=1e-4)
    default = search(query, sample_kb, k=5, settings=fused)[0].explain["fusion"]
    fixed = search(query, sample_kb, k=5, settings=RetrieveSettings(adaptive=0.0, rerank="none"))[0].explain[
        "fusion"
    ]
    assert default["method"] == "score" and default["identifier_share"] > 0
    assert default["weights"]["bm25"] > fixed["weights"]["bm25"] == 0.5
    minmax = search(query, sample_kb, k=5, settings=RetrieveSettings(normalization="minmax", rerank="none"))
    assert all(
        0 <= e["contribution"] <= 0.5 + 1e-9 for h in minmax for n, e in h.explain.items() if n == "dense"
    )
    zscore = search(query, sample_kb, k=5, settings=fused)
    assert [h.score for h in minmax] != [h.score for h in zscore]
