"""A config file that changes each retrieval and answer setting changes what ``expert search``,
``expert ask`` and ``expert eval`` do (real bundled embedder and SmolLM2, the real sample KB), and
eval answers exactly as ``ask`` does under the same config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from industry_expert.cli import main
from industry_expert.kb import KnowledgeBase
from industry_expert.models.llamacpp import bundled_gguf

pytestmark = pytest.mark.slow
QUERY = "impeller nut torque KF-340"
QUESTION = "How long is the standard warranty on a Kestrel pump?"


def _cli(*args: str) -> Any:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _config(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _search(kb: Path, cfg: str | None, *extra: str) -> list[dict[str, Any]]:
    return _cli("search", QUERY, "--kb", str(kb), "--json", *(["--config", cfg] if cfg else []), *extra)


def test_retrieve_settings_change_search(sample_kb: Path, tmp_path: Path) -> None:
    default = _search(sample_kb, None)
    assert len(default) == 5
    assert len(_search(sample_kb, _config(tmp_path, "k", {"retrieve": {"k": 2}}))) == 2
    # k from the file, overridden by the flag
    assert len(_search(sample_kb, _config(tmp_path, "k", {"retrieve": {"k": 2}}), "-k", "4")) == 4
    # weights: BM25 alone through the fusion ranks like the BM25 retriever, with scores 1/(rrf_k + rank)
    bm25 = {"fusion": "rrf", "weight_dense": 0.0, "weight_summary": 0.0, "weight_bm25": 1.0, "rrf_k": 60}
    bm25["rerank"] = "none"  # the fusion's own order (the rerank would reorder its top 10)
    cfg = _config(tmp_path, "bm25", {"retrieve": bm25})
    fused, alone = _search(sample_kb, cfg), _search(sample_kb, cfg, "--mode", "bm25")
    assert [h["chunk_id"] for h in fused] == [h["chunk_id"] for h in alone]
    assert fused[0]["score"] == pytest.approx(1 / 61, abs=1e-6)
    assert [h["chunk_id"] for h in fused] != [h["chunk_id"] for h in default]
    dense = {
        "weight_dense": 1.0,
        "weight_summary": 0.0,
        "weight_bm25": 0.0,
        "adaptive": 0.0,
        "rerank": "none",
    }
    cfg = _config(tmp_path, "dense", {"retrieve": dense})
    assert [h["chunk_id"] for h in _search(sample_kb, cfg)] == [
        h["chunk_id"] for h in _search(sample_kb, cfg, "--mode", "dense")
    ]
    # candidates: each retriever contributes only its top N before fusion
    assert max(r for h in default for r in h["ranks"].values() if r) > 3
    few = _search(sample_kb, _config(tmp_path, "cand", {"retrieve": {"candidates": 3, "k": 3}}))
    assert all(r is None or r <= 3 for h in few for r in (h["ranks"]["dense"], h["ranks"]["bm25"]))
    # dedup_cosine: no two results are more similar than the threshold
    strict = _search(sample_kb, _config(tmp_path, "dedup", {"retrieve": {"dedup_cosine": 0.8}}))
    with KnowledgeBase.open(sample_kb) as kb:
        for hits, limit in ((default, 0.95), (strict, 0.8)):
            v = kb.store.vectors([h["chunk_id"] for h in hits])
            sims = (v @ v.T)[np.triu_indices(len(hits), 1)]
            assert len(hits) == 5 and sims.max() < limit
            if limit == 0.95:
                assert sims.max() >= 0.8  # the default keeps a neighbour the stricter setting collapses
    assert [h["chunk_id"] for h in strict] != [h["chunk_id"] for h in default]
    # rerank: on by default over the fused top 10; rerank_depth and rerank: none take effect
    shallow = _search(
        sample_kb, _config(tmp_path, "rr", {"retrieve": {"rerank_depth": 2, "k": 5}}), "--explain"
    )
    assert sum("rerank" in h["explain"] for h in shallow) == 2
    assert all(h["explain"]["rerank"]["fused_rank"] <= 2 for h in shallow if "rerank" in h["explain"])
    off = _search(sample_kb, _config(tmp_path, "rr0", {"retrieve": {"rerank": "none"}}), "--explain")
    assert not any("rerank" in h["explain"] for h in off)


def test_rare_names_lean_lexical_when_rare_df_is_set(sample_kb: Path, tmp_path: Path) -> None:
    """'Gmunden' is in few chunks of the sample KB (service records): with rare_df the
    name pulls BM25's pick (the service database) to the top, and --explain says why."""
    q = "Which part was fitted when the bearings failed on the Gmunden white water pump in February 2025?"
    fused = ("--rerank", "none")  # the fusion's own lean (MaxSim reorders the top 10 after it)
    off = _cli("search", q, "--kb", str(sample_kb), "--json", "--explain", *fused)
    cfg = _config(tmp_path, "names", {"retrieve": {"rare_df": 0.02}})
    on = _cli("search", q, "--kb", str(sample_kb), "--json", "--explain", "--config", cfg, *fused)
    assert not off[0]["source"].endswith("kestrel.db") and on[0]["source"].endswith("kestrel.db")
    assert off[0]["explain"]["fusion"]["name_share"] == 0.0
    fusion = on[0]["explain"]["fusion"]
    assert fusion["name_share"] > 0 and fusion["weights"]["bm25"] > fusion["weights"]["dense"]


def _ask(kb: Path, cfg: str, question: str = QUESTION) -> dict[str, Any]:
    return _cli("ask", question, "--kb", str(kb), "--config", cfg, "--json")


def test_answer_settings_change_ask(sample_kb: Path, tmp_path: Path) -> None:
    answer = {"k": 2, "max_tokens": 40, "sentences": 1, "context_tokens": 500, "model": str(bundled_gguf())}
    retrieve = {"weight_dense": 0.0, "weight_summary": 0.0, "k": 2}
    cfg = _config(tmp_path, "a", {"answer": answer, "retrieve": retrieve})
    a = _ask(sample_kb, cfg)
    assert a["settings"]["answer"] == {**a["settings"]["answer"], **answer}
    assert a["settings"]["retrieve"]["weight_dense"] == 0.0 and a["model"].startswith("gguf:SmolLM2")
    # answer.k passages, retrieved with the file's retrieval settings (the same as `search`)
    hits = _cli("search", QUESTION, "--kb", str(sample_kb), "--json", "--config", cfg)
    assert [p["chunk_id"] for p in a["passages"]] == [h["chunk_id"] for h in hits][: len(a["passages"])]
    assert 1 <= len(a["passages"]) <= 2
    assert "at most 1 short sentences" in a["prompt"] and a["timings"]["prompt_tokens"] <= 500
    assert a["timings"]["completion_tokens"] <= 40
    # min_relevance: above every passage's similarity, the model is not even called
    cfg = _config(tmp_path, "b", {"answer": {**answer, "min_relevance": 0.99}})
    b = _ask(sample_kb, cfg)
    assert b["abstained"] and b["raw_answer"] == "" and "generate_s" not in b["timings"]
    # support_threshold: 0 keeps every sentence the model wrote; 1 drops those not fully in a passage
    loose = _ask(sample_kb, _config(tmp_path, "c", {"answer": {**answer, "support_threshold": 0.0}}))
    strict = _ask(sample_kb, _config(tmp_path, "d", {"answer": {**answer, "support_threshold": 1.0}}))
    assert loose["raw_answer"] == strict["raw_answer"] and loose["unsupported"] == []
    assert strict["unsupported"] != [] and all(c["support"] >= 1.0 for c in strict["citations"])
    # temperature: sampling changes what the model writes
    hot = _ask(sample_kb, _config(tmp_path, "e", {"answer": {**answer, "temperature": 1.8}}))
    assert hot["raw_answer"] != loose["raw_answer"]


def test_eval_answers_with_the_settings_ask_uses(sample_kb: Path, tmp_path: Path) -> None:
    answer = {"k": 2, "max_tokens": 40, "context_tokens": 500}
    cfg = _config(tmp_path, "ev", {"answer": answer, "retrieve": {"rrf_k": 30}})
    q = {
        "id": "w1",
        "question": QUESTION,
        "answer": "24 months from Hour Zero.",
        "key_facts": ["24 months"],
        "gold_sources": ["web/careline-warranty.html"],
    }
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps(q) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    r = CliRunner().invoke(
        main, ["eval", str(questions), "--kb", str(sample_kb), "--out", str(out), "--config", cfg]
    )
    assert r.exit_code == 0, r.output
    assert "settings: answer k=2, max_tokens=40, context_tokens=500" in r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["answer"] == {**summary["settings"]["answer"], **answer}
    assert summary["settings"]["retrieve"]["rrf_k"] == 30
    assert "answer.max_tokens</td><td>40" in (out / "report.html").read_text()
    rows = {
        row["system"]: row for row in map(json.loads, (out / "per_question.jsonl").read_text().splitlines())
    }
    asked = _ask(sample_kb, cfg)
    assert rows["rag"]["answer"] == asked["answer"]  # eval scores exactly what `expert ask` delivers
    assert rows["rag"]["citations"] == [c["source"] for c in asked["citations"]]
    alone = _cli("ask", QUESTION, "--config", cfg, "--json")
    assert rows["base"]["answer"] == alone["answer"]
