"""ANN recall@10 against exact search, and the time per query, for the two stores' index settings
over a range of search widths (faiss ``efSearch``, pgvector ``hnsw.ef_search``): the data on which
the stores' default widths are chosen. Vectors built as in ``scale_stores.py`` but with another seed
(``--seed 1``), so the defaults are not chosen on the vectors ``scale_stores.py`` reports on.
Indexes built directly (faiss in-process, pgvector in a pgserver PostgreSQL) with the stores'
build settings; queries = the real sample questions embedded by the bundled model.

    python bench/scale_ann_recall.py --vectors 100000 --seed 1     # what bench/results holds
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.questions import load_questions
from industry_expert.kb import KnowledgeBase
from industry_expert.models.embedders import normalize
from industry_expert.store import ann

FAISS_EF = (32, 64, 96, 128, 256)
PG_EF = (40, 64, 100, 200, 400)


def vectors(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``scale_stores.py``'s construction: two real chunk vectors mixed, plus noise of a quarter
    of the length."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(base), (2, n))
    noise = 0.25 / np.sqrt(base.shape[1]) * rng.normal(size=(n, base.shape[1])).astype(np.float32)
    return normalize(base[a] + 0.5 * base[b] + noise).astype(np.float32)


def recall(found: list[list[int]], exact: list[set[int]]) -> float:
    return float(np.mean([len(e & set(f)) / 10 for e, f in zip(exact, found)]))


def timed(search, queries: np.ndarray) -> tuple[list[list[int]], float]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    found = [search(q) for q in queries]
    return found, (time.perf_counter() - t0) * 1000 / len(queries)


def faiss_rows(data: np.ndarray, queries: np.ndarray, exact: list[set[int]]) -> dict[str, dict[str, float]]:
    import faiss

    index = faiss.IndexHNSWFlat(data.shape[1], ann.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ann.HNSW_EF_CONSTRUCTION
    index.add(data)
    rows = {}
    for ef in FAISS_EF:
        index.hnsw.efSearch = ef
        found, ms = timed(lambda q: index.search(q[None], 10)[1][0].tolist(), queries)
        rows[f"faiss M={ann.HNSW_M} efSearch={ef}"] = {"recall@10": recall(found, exact), "ms": ms}
    return rows


def pg_rows(
    dsn: str, data: np.ndarray, queries: np.ndarray, exact: list[set[int]]
) -> dict[str, dict[str, float]]:
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
        rows = {}
        sql = "SELECT id FROM recall ORDER BY vec <#> %s LIMIT 10"
        for ef in PG_EF:
            con.execute(f"SET hnsw.ef_search = {ef}")
            found, ms = timed(lambda q: [r[0] for r in con.execute(sql, (q,))], queries)
            rows[f"pgvector m={m} ef_search={ef}"] = {"recall@10": recall(found, exact), "ms": ms}
        con.execute("DROP TABLE recall")
    return rows


def main() -> None:
    import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1, help="not 0: scale_stores.py reports on seed 0")
    ap.add_argument(
        "--sample-kb", type=Path, help="an existing sample-company KB (default: built under bench/out)"
    )
    args = ap.parse_args()
    with KnowledgeBase.open(args.sample_kb or sample_kb()) as kb:
        base = kb.store.vectors(kb.store.chunk_ids())
        queries = kb.embed([q.question for q in load_questions(QUESTIONS)])
    data = vectors(base, args.vectors, args.seed)
    exact = [set(np.argsort(-(data @ q))[:10].tolist()) for q in queries]
    with tempfile.TemporaryDirectory() as tmp, pgserver.get_server(Path(tmp) / "pg") as server:
        rows = faiss_rows(data, queries, exact)
        print(rows, flush=True)
        rows.update(pg_rows(server.get_uri(), data, queries, exact))
    lines = ["| index, search width | recall@10 | ms per query |", "|---|---|---|"]
    lines += [f"| {name} | {r['recall@10']:.3f} | {r['ms']:.2f} |" for name, r in rows.items()]
    text = (
        f"ANN recall@10 vs exact search and time per query, {args.vectors:,} vectors (seed {args.seed}), "
        f"{len(queries)} real questions; build settings: faiss M={ann.HNSW_M}, efConstruction="
        f"{ann.HNSW_EF_CONSTRUCTION}; pgvector: PostgresStore's defaults. Defaults are chosen here, "
        "reported on other vectors in scale_stores.md.\n\n" + "\n".join(lines)
    )
    write_results(
        "scale_ann_recall",
        {"machine": machine(), "vectors": args.vectors, "seed": args.seed, "results": rows},
        text,
    )


if __name__ == "__main__":
    main()
