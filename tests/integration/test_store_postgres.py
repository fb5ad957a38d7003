"""The PostgreSQL + pgvector store against a real server (pgserver): the shared Store contract,
atomic writes under concurrency, the HNSW path, and recorded options without secrets."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from industry_expert.errors import KBError
from industry_expert.testing.store_contract import DIM, StoreContract, doc, unit

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_store(pg_dsn: str):  # type: ignore[no-untyped-def]
    from industry_expert.store.postgres import PostgresStore

    return lambda path, dim: PostgresStore(path, dim, dsn=pg_dsn)


class TestPostgresStore(StoreContract):
    pass


class TestPostgresStoreFullText(StoreContract):
    """The same contract with PostgreSQL's own ts_rank instead of BM25."""

    @pytest.fixture
    def make_store(self, pg_dsn: str):  # type: ignore[no-untyped-def]
        from industry_expert.store.postgres import PostgresStore

        return lambda path, dim: PostgresStore(path, dim, dsn=pg_dsn, lexical="fts")


class TestPostgresStoreHNSW(StoreContract):
    """The same contract with the HNSW index built from the first chunk on."""

    @pytest.fixture
    def make_store(self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
        from industry_expert.store import postgres

        monkeypatch.setattr(postgres, "EXACT_BELOW", 0)
        monkeypatch.setattr(postgres, "EXACT_FILTERED_MAX", 0)

        def make(path: Path, dim: int):  # type: ignore[no-untyped-def]
            s = postgres.PostgresStore(path, dim, dsn=pg_dsn)
            s.sync()
            return s

        return make


def _version(gen: int, n: int) -> tuple:  # type: ignore[type-arg]
    """Document 'a' at generation ``gen``: ``n`` chunks that all carry the word ``genN``."""
    return doc("a", "docs/a.md", [f"gen{gen} shared pump text part {i}" for i in range(n)], seed=gen)


def test_readers_never_see_half_written_documents(make_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    writer, reader = make_store(tmp_path / "kb", DIM), make_store(tmp_path / "kb", DIM)
    writer.upsert(*_version(0, 3))
    stop, seen, errors = threading.Event(), [], []

    def write() -> None:
        for gen in range(1, 40):
            writer.upsert(*_version(gen, 3 + gen % 4))
        stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    while not stop.is_set():
        ids = sorted(i for i, _ in reader.lexical("shared pump", 50))  # one statement = one snapshot
        hits = reader.hits(ids)  # a later snapshot: all of them, or none when replaced meanwhile
        gens = {h.text.split()[0] for h in hits.values()}
        seen.append(len(hits))
        whole = bool(ids) and ids == list(range(ids[0], ids[0] + len(ids))) and 3 <= len(ids) <= 6
        if (
            not whole
            or hits
            and (len(hits) != len(ids) or len(gens) != 1 or len(ids) != 3 + int(min(gens)[3:]) % 4)
        ):
            errors.append((gens, ids))
    thread.join()
    assert sum(1 for n in seen if n) > 5 and not errors, errors[:3]
    writer.close()
    reader.close()


def test_concurrent_writers_keep_bm25_statistics_exact(make_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stores = [make_store(tmp_path / "kb", DIM) for _ in range(3)]

    def work(w: int) -> None:
        for i in range(12):
            stores[w].upsert(
                *doc(f"w{w}-{i % 5}", f"s{w}/{i}.md", [f"pump seal {w} {i}", "pump housing"], seed=i)
            )

    threads = [threading.Thread(target=work, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    con = stores[0].con
    drift = con.execute(
        "SELECT COUNT(*) FROM term_stats t FULL JOIN (SELECT v.lexeme, COUNT(*) AS df FROM chunks c, "
        "unnest(c.tsv) v GROUP BY v.lexeme) x ON x.lexeme = t.term AND t.scope = 'c' "
        "WHERE (t.scope = 'c' OR t.scope IS NULL) AND COALESCE(t.df, 0) <> COALESCE(x.df, 0)"
    ).fetchone()[0]
    n, total = con.execute("SELECT n, total_len FROM corpus_stats WHERE scope = 'c'").fetchone()
    assert drift == 0 and n == stores[0].stats()["chunks"] == 30
    assert total == pytest.approx(con.execute("SELECT SUM(dl) FROM chunks").fetchone()[0])
    for s in stores:
        s.close()


def test_ingest_lock_is_exclusive_per_kb(make_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b, other = (
        make_store(tmp_path / "kb", DIM),
        make_store(tmp_path / "kb", DIM),
        make_store(tmp_path / "kb2", DIM),
    )
    with a.ingest_lock():
        with pytest.raises(KBError, match="another ingest is running"), b.ingest_lock():
            pass
        with other.ingest_lock():  # another KB in the same database is not blocked
            pass
    with b.ingest_lock():
        pass
    for s in (a, b, other):
        s.close()


def test_kbs_share_a_database_in_separate_schemas(make_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one, two = make_store(tmp_path / "one", DIM), make_store(tmp_path / "two", DIM)
    one.upsert(*doc("a", "a.md", ["impeller torque"], seed=1))
    assert one.schema != two.schema and two.stats()["documents"] == 0
    assert two.lexical("impeller", 5) == [] and len(one.lexical("impeller", 5)) == 1
    one.drop()
    for s in (one, two):
        s.close()


def test_recorded_options_have_no_password_and_reopen(pg_dsn: str, tmp_path: Path) -> None:
    from industry_expert.store.postgres import PostgresStore
    from industry_expert.store.registry import open_store

    with_password = pg_dsn.replace("postgres:@", "postgres:s3cret@")
    store = PostgresStore(tmp_path / "kb", DIM, dsn=with_password, hnsw_m=8)
    store.upsert(*doc("a", "a.md", ["impeller torque"], seed=1))
    options = store.recorded_options()
    store.close()
    assert "s3cret" not in str(options) and options["hnsw_m"] == 8
    reopened = open_store(tmp_path / "elsewhere", DIM, "postgresql", options)  # the schema is recorded
    assert reopened.stats()["documents"] == 1
    reopened.close()
    with pytest.raises(KBError, match="vectors are 16-d, not 8-d"):
        PostgresStore(tmp_path / "kb", 8, dsn=pg_dsn)
    with pytest.raises(KBError, match="cannot connect to PostgreSQL"):
        PostgresStore(tmp_path / "kb", DIM, dsn="postgresql://nobody@127.0.0.1:1/none")


def test_filtered_ann_above_the_exact_limit(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from industry_expert.store import postgres

    monkeypatch.setattr(postgres, "EXACT_BELOW", 10)
    monkeypatch.setattr(postgres, "EXACT_FILTERED_MAX", 5)
    store = postgres.PostgresStore(tmp_path / "kb", DIM, dsn=pg_dsn)
    for d in range(8):
        store.upsert(
            *doc(f"d{d}", f"{'pdf' if d % 2 else 'md'}/{d}", [f"text {d} {i}" for i in range(4)], seed=d)
        )
    store.sync()
    assert store.stats()["ann_index"] == "hnsw"
    q = unit(5, 4)[2]
    got = store.dense(q, 3, {"source": "pdf/*"})
    assert len(got) == 3 and {store.hits([i])[i].source[:4] for i, _ in got} == {"pdf/"}
    exact = sorted(
        ((float(v @ q), i) for i, v in zip(store.chunk_ids(), store.vectors(store.chunk_ids()))), reverse=True
    )
    pdf = [i for s, i in exact if store.hits([i])[i].source.startswith("pdf/")][:3]
    assert [i for i, _ in got] == pdf
    assert np.isclose(got[0][1], exact[[i for _, i in exact].index(pdf[0])][0], atol=1e-5)
    store.close()
