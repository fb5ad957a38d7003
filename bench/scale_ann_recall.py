"""ANN recall@10 against exact search for the two stores' index settings, on vectors built as in
``scale_stores.py`` with two noise levels: the per-component noise that benchmark uses (0.25 per
dimension: the noise outweighs the signal ~4x, nearest neighbours are nearly tied, a worst case for
HNSW) and realistic noise (0.25 of the vector's length). Indexes built directly (faiss in-process,
pgvector in a pgserver PostgreSQL), queries = the real sample questions embedded by the bundled model.

    python bench/scale_ann_recall.py [--vectors 20000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _common import QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import normalize
from industry_expert.store import ann


def vectors(base: np.ndarray, n: int, noise: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(base), (2, n))
    return normalize(base[a] + 0.5 * base[b] + noise * rng.normal(size=(n, base.shape[1])).astype(np.float32))


def recall(found: list[list[int]], data: np.ndarray, queries: np.ndarray) -> float:
    exact = [set(np.argsort(-(data @ q))[:10].tolist()) for q in queries]
    return float(np.mean([len(e & set(f)) / 10 for e, f in zip(exact, found)]))


def faiss_recall(data: np.ndarray, queries: np.ndarray, ef: int) -> float:
    import faiss

    index = faiss.IndexHNSWFlat(data.shape[1], ann.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ann.HNSW_EF_CONSTRUCTION
    index.add(data)
    index.hnsw.efSearch = ef
    return recall([index.search(q[None], 10)[1][0].tolist() for q in queries], data, queries)


def pg_recall(dsn: str, data: np.ndarray, queries: np.ndarray, efs: list[int]) -> dict[int, float]:
    import psycopg
    from pgvector.psycopg import register_vector

    from industry_expert.store.postgres import PostgresStore

    defaults = PostgresStore.__init__.__defaults__  # (dsn, schema, hnsw_m, hnsw_ef_construction, ...)
    m, efc = defaults[2], defaults[3]  # type: ignore[index]
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(con)
        con.execute(f"DROP TABLE IF EXISTS recall; CREATE TABLE recall(id int, vec vector({data.shape[1]}))")
        with con.cursor().copy("COPY recall (id, vec) FROM STDIN") as copy:
            for i, v in enumerate(data):
                copy.write_row((i, v))
        con.execute("SET maintenance_work_mem = '1GB'")
        con.execute(
            f"CREATE INDEX ON recall USING hnsw (vec vector_ip_ops) WITH (m = {m}, ef_construction = {efc})"
        )
        out = {}
        for ef in efs:
            con.execute(f"SET hnsw.ef_search = {ef}")
            sql = "SELECT id FROM recall ORDER BY vec <#> %s LIMIT 10"
            out[ef] = recall([[r[0] for r in con.execute(sql, (q,))] for q in queries], data, queries)
    return out


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=20_000)
    ap.add_argument(
        "--sample-kb", type=Path, help="an existing sample-company KB (default: built under bench/out)"
    )
    args = ap.parse_args()
    with KnowledgeBase.open(args.sample_kb or sample_kb()) as kb:
        base = kb.store.vectors(kb.store.chunk_ids())
        queries = kb.embed([q.question for q in load_questions(QUESTIONS)])
    noises = {
        "0.25 per dimension (scale_stores.py)": 0.25,
        "0.25 of the length (realistic)": 0.25 / np.sqrt(base.shape[1]),
    }
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, pgserver.get_server(Path(tmp) / "pg") as server:
        for label, noise in noises.items():
            data = vectors(base, args.vectors, noise)
            rows[label] = {
                **{
                    f"faiss M={ann.HNSW_M} ef={ef}": faiss_recall(data, queries, ef)
                    for ef in (ann.HNSW_EF_SEARCH, 400)
                },
                **{
                    f"pgvector ef_search={ef}": r
                    for ef, r in pg_recall(server.get_uri(), data, queries, [40, 100, 400]).items()
                },
            }
            print(label, rows[label], flush=True)
    cols = list(next(iter(rows.values())))
    lines = ["| vectors | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    lines += [f"| {label} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |" for label, r in rows.items()]
    text = (
        f"ANN recall@10 vs exact search, {args.vectors:,} vectors, {len(queries)} real questions "
        f"(faiss: the embedded store's HNSW settings; pgvector: PostgresStore's defaults)\n\n"
        + "\n".join(lines)
    )
    write_results("scale_ann_recall", {"machine": machine(), "vectors": args.vectors, "results": rows}, text)


if __name__ == "__main__":
    main()
