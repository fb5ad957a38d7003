"""What the reranking stage costs per query: `retrieve` top-5 latency with the shipped defaults
(fusion, then MaxSim over the best 10 chunks) against the fusion alone (`rerank: none`), on every
question set's KB, one thread (the query path), after one warm-up query.

    python bench/retrieval_loo.py     # first: builds the KBs under bench/out
    python bench/rerank_latency.py
"""

from __future__ import annotations

import statistics
import time

from _common import machine, write_results
from industry_expert.config import RetrieveSettings
from industry_expert.kb import KnowledgeBase
from industry_expert.models.threads import query_threads
from industry_expert.retrieve.hybrid import retrieve
from retrieval_loo import question_sets

PER_SET = 20
VARIANTS = {
    "fusion only (rerank: none)": RetrieveSettings(rerank="none"),
    "shipped (rerank top 10)": RetrieveSettings(),
}


def timed(kb: KnowledgeBase, questions: list[str], s: RetrieveSettings) -> list[float]:
    retrieve(kb, questions[0], 5, settings=s)  # warm up: model sessions, ANN index
    out = []
    for q in questions:
        t0 = time.perf_counter()
        retrieve(kb, q, 5, settings=s)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    rows = {}
    with query_threads():
        for name, (kb_path, qs) in question_sets().items():
            questions = [q.question for q in qs][:: max(1, len(qs) // PER_SET)][:PER_SET]
            with KnowledgeBase.open(kb_path) as kb:
                chunks = kb.store.stats()["chunks"]
                rows[name] = {"chunks": chunks, **{v: timed(kb, questions, s) for v, s in VARIANTS.items()}}
    lines = [
        f"Reranking cost: `retrieve` top-5 wall time per query (ms, {PER_SET} questions per set, one "
        "thread, the query embedding included)\n",
        "| set | chunks | " + " | ".join(f"{v} p50 / p95" for v in VARIANTS) + " | added p50 |",
        "|---|---|" + "---|" * (len(VARIANTS) + 1),
    ]
    summary = {}
    for name, r in rows.items():
        p = {v: (statistics.median(r[v]), sorted(r[v])[int(0.95 * (len(r[v]) - 1))]) for v in VARIANTS}
        a, b = (p[v][0] for v in VARIANTS)
        summary[name] = {"chunks": r["chunks"], **{v: {"p50": p[v][0], "p95": p[v][1]} for v in VARIANTS}}
        cells = " | ".join(f"{p[v][0]:.1f} / {p[v][1]:.1f}" for v in VARIANTS)
        lines.append(f"| {name} | {r['chunks']:,} | {cells} | +{b - a:.1f} |")
    write_results(
        "rerank_latency", {"machine": machine(), "per_set": PER_SET, "results": summary}, "\n".join(lines)
    )


if __name__ == "__main__":
    main()
