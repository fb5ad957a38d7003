"""Document hit@1, hit@5 and MRR@10 of BM25-only, dense-only and hybrid retrieval, side by side,
on the sample company's labelled questions (answerable ones; gold = source documents)."""

from __future__ import annotations

import statistics

from _common import QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.metrics import hit_at_k, ranked_documents, reciprocal_rank
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.retrieve.hybrid import retrieve

MODES = ("bm25", "dense", "hybrid")


def main() -> None:
    questions = [q for q in load_questions(QUESTIONS) if q.answerable]
    kb = KnowledgeBase.open(sample_kb())
    rows: dict[str, dict[str, float]] = {}
    per_question: list[dict] = []
    for mode in MODES:
        h1, h5, mrr = [], [], []
        for q in questions:
            docs = ranked_documents([h.source for h in retrieve(kb, q.question, k=30, mode=mode)])
            h1.append(hit_at_k(docs, q.gold_sources, 1))
            h5.append(hit_at_k(docs, q.gold_sources, 5))
            mrr.append(reciprocal_rank(docs, q.gold_sources, 10))
            per_question.append(
                {"mode": mode, "id": q.id, "type": q.type, "hit@1": h1[-1], "hit@5": h5[-1], "rr@10": mrr[-1]}
            )
        rows[mode] = {
            "hit@1": statistics.mean(h1),
            "hit@5": statistics.mean(h5),
            "mrr@10": statistics.mean(mrr),
        }
    table = ["| retriever | hit@1 | hit@5 | MRR@10 |", "|---|---|---|---|"]
    table += [f"| {m} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} |" for m, r in rows.items()]
    best_single = max(rows["bm25"]["mrr@10"], rows["dense"]["mrr@10"])
    verdict = "beats" if rows["hybrid"]["mrr@10"] > best_single else "does NOT beat"
    text = (
        f"Retrieval quality on {len(questions)} answerable sample questions "
        f"(document level, k=10 candidates)\n\n"
        + "\n".join(table)
        + f"\n\nHybrid {verdict} the best single retriever on MRR@10."
    )
    write_results(
        "retrieval_quality",
        {"machine": machine(), "questions": len(questions), "results": rows, "per_question": per_question},
        text,
    )


if __name__ == "__main__":
    main()
