"""Retrieval quality of the PostgreSQL store against the embedded store on the same KB.

The embedded KB is copied into PostgreSQL (``expert kb copy``: same chunks, same vectors) twice:
lexical search as BM25 computed in SQL, and as PostgreSQL's ``ts_rank`` full-text ranking. Document
hit@1, hit@5 and MRR@10 for bm25 / dense / hybrid on every question set given (default: the sample
company's KB, built under bench/out; or each ``--name NAME --kb DIR --questions FILE`` given).

    python bench/scale_store_quality.py [--kb DIR --questions FILE --name NAME]...
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _common import QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.metrics import hit_at_k, ranked_documents, reciprocal_rank
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.kb_copy import copy_kb
from industry_expert.retrieve.hybrid import retrieve

MODES = ("bm25", "dense", "hybrid")
STORES = {"sqlite-faiss (FTS5 BM25)": None, "postgresql (BM25 in SQL)": "bm25", "postgresql (ts_rank)": "fts"}


def evaluate(kb: KnowledgeBase, questions: list, vectors: list) -> dict[str, dict[str, float]]:  # type: ignore[type-arg]
    rows = {}
    for mode in MODES:
        h1, h5, mrr = [], [], []
        for q, vec in zip(questions, vectors):
            hits = retrieve(kb, q.question, k=30, mode=mode, query_vector=vec)
            docs = ranked_documents([h.source for h in hits])
            h1.append(hit_at_k(docs, q.gold_sources, 1))
            h5.append(hit_at_k(docs, q.gold_sources, 5))
            mrr.append(reciprocal_rank(docs, q.gold_sources, 10))
        rows[mode] = {
            "hit@1": statistics.mean(h1),
            "hit@5": statistics.mean(h5),
            "mrr@10": statistics.mean(mrr),
        }
    return rows


def corpus(name: str, kb_dir: Path, questions_file: Path, dsn: str, work: Path) -> dict:  # type: ignore[type-arg]
    questions = [q for q in load_questions(questions_file) if q.answerable]
    local = work / f"{name}-embedded"
    shutil.copytree(kb_dir, local, ignore=shutil.ignore_patterns(".ingest.lock"))  # a snapshot
    out = {}
    with KnowledgeBase.open(local) as base:
        vectors = list(base.embed([q.question for q in questions]))
        out["sqlite-faiss (FTS5 BM25)"] = evaluate(base, questions, vectors)
    for label, lexical in STORES.items():
        if lexical is None:
            continue
        copy = work / f"{name}-pg-{lexical}"
        copy_kb(local, copy, "postgresql", {"dsn": dsn, "lexical": lexical})
        with KnowledgeBase.open(copy) as kb:
            out[label] = evaluate(kb, questions, vectors)
            kb.store.drop()  # type: ignore[attr-defined]
    return {"questions": len(questions), "results": out}


def table(name: str, res: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"### {name} ({res['questions']} answerable questions)",
        "",
        "| store | retriever | hit@1 | hit@5 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for store, rows in res["results"].items():
        lines += [
            f"| {store} | {m} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} |"
            for m, r in rows.items()
        ]
    return "\n".join(lines)


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", action="append", default=[], type=Path)
    ap.add_argument("--questions", action="append", default=[], type=Path)
    ap.add_argument("--name", action="append", default=[])
    args = ap.parse_args()
    sets = list(zip(args.name, args.kb, args.questions)) or [("kestrel", sample_kb(), QUESTIONS)]
    with tempfile.TemporaryDirectory() as tmp, pgserver.get_server(Path(tmp) / "pg") as server:
        results = {name: corpus(name, kb, qs, server.get_uri(), Path(tmp)) for name, kb, qs in sets}
    text = "Retrieval quality: embedded store vs PostgreSQL (same chunks and vectors, copied)\n\n"
    text += "\n\n".join(table(n, r) for n, r in results.items())
    write_results("scale_store_quality", {"machine": machine(), "corpora": results}, text)


if __name__ == "__main__":
    main()
