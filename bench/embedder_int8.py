"""Is an int8 embedder good enough to ship? The bundled MiniLM with dynamically quantized int8
MatMul weights (spec ``minilm-int8``, its own embedder id) against the fp32 ONNX default on every
question set: retrieval quality (dense and the default hybrid, document level) and embedding speed
on the same texts, in one run. Rule: adopt only if hit@1 and MRR@10 stay within 0.01 everywhere.

Run after retrieval_loo.py (it reuses the fp32 KBs under bench/out).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import OUT, machine, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent))
from industry_expert.config import Settings  # noqa: E402
from industry_expert.evaluate.metrics import ranked_documents  # noqa: E402
from industry_expert.ingest.pipeline import ingest  # noqa: E402
from industry_expert.kb import KnowledgeBase  # noqa: E402
from industry_expert.models.embedders import load_embedder  # noqa: E402
from industry_expert.retrieve.hybrid import retrieve  # noqa: E402
from retrieval_loo import DEPTH, metrics, question_sets, summarize  # noqa: E402


def quality(kb_path: Path, questions: list) -> dict:  # type: ignore[type-arg]
    out = {}
    with KnowledgeBase.open(kb_path) as kb:
        for mode in ("dense", "hybrid"):
            rows = [
                metrics(
                    ranked_documents([h.source for h in retrieve(kb, q.question, k=DEPTH, mode=mode)]),
                    q.gold_sources,
                )
                for q in questions
            ]
            out[mode] = summarize(rows)
    return out


def speed(texts: list[str]) -> dict:
    out = {}
    vectors = {}
    for spec in ("minilm", "minilm-int8"):
        embedder = load_embedder(spec)
        embedder.embed_batch(texts[:8])
        t0 = time.perf_counter()
        vectors[spec] = embedder.embed_batch(texts)
        out[spec] = len(texts) / (time.perf_counter() - t0)
    cos = np.sum(vectors["minilm"] * vectors["minilm-int8"], axis=1)
    return {"chunks_per_second": out, "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def main() -> None:
    sets = question_sets()
    results = {}
    for name, (kb_path, questions) in sets.items():
        with KnowledgeBase.open(kb_path) as kb:
            data = sorted({d.abs_path for d in kb.store.documents()})
        int8_kb = OUT / f"{name}-int8-kb"
        report = ingest(data, int8_kb, Settings(embedder="minilm-int8"), explicit={"embedder"})
        if not report.ok:
            raise SystemExit(f"int8 ingest of {name} failed: {report.to_dict()['errors']}")
        results[name] = {"fp32": quality(kb_path, questions), "int8": quality(int8_kb, questions)}
    with KnowledgeBase.open(sets["kestrel"][0]) as kb:
        texts = [h.text for h in kb.store.hits(kb.store.chunk_ids()).values()]
    fast = speed(texts)
    lines = [
        "int8 (dynamic, per-channel MatMul weights) vs fp32 ONNX MiniLM, document level",
        "",
        "| set | retriever | fp32 hit@1 | int8 hit@1 | fp32 MRR@10 | int8 MRR@10 | within 0.01 |",
        "|---|---|---|---|---|---|---|",
    ]
    ok = True
    for name, r in results.items():
        for mode in ("dense", "hybrid"):
            a, b = r["fp32"][mode], r["int8"][mode]
            same = abs(a["hit@1"] - b["hit@1"]) <= 0.01 and abs(a["mrr@10"] - b["mrr@10"]) <= 0.01
            ok &= same
            lines.append(
                f"| {name} | {mode} | {a['hit@1']:.3f} | {b['hit@1']:.3f} | {a['mrr@10']:.3f} | "
                f"{b['mrr@10']:.3f} | {'yes' if same else 'NO'} |"
            )
    cps = fast["chunks_per_second"]
    lines += [
        "",
        f"Embedding the {len(texts)} sample chunks: fp32 {cps['minilm']:.1f} chunks/s, int8 {cps['minilm-int8']:.1f} "
        f"chunks/s; cosine int8 vs fp32 min {fast['min_cosine']:.4f}, mean {fast['mean_cosine']:.4f}. "
        f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "Verdict: "
        + (
            "quality unchanged everywhere."
            if ok
            else "quality moves by more than 0.01: int8 is not the default."
        ),
    ]
    write_results(
        "embedder_int8",
        {"machine": machine(), "results": results, "speed": fast, "unchanged": ok},
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
