"""`expert kb copy` carries the reranker's token vectors kept at ingest (``tokens.sqlite``): the
copy's default search ranks as the source's and reranks from the kept vectors, encoding nothing at
query time; a source without them gives a copy without them. (Copies to and from PostgreSQL:
``test_kb_postgres.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.integration.conftest import build_notes_kb

from industry_expert.kb import KnowledgeBase
from industry_expert.kb_copy import copy_kb
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.retrieve.rerank import passage_tokens
from industry_expert.store.token_vectors import TOKENS_DB, quantize

pytestmark = pytest.mark.slow
NOTES = [
    "The KF-340 impeller nut is tightened to 45 Nm with a new lock washer.",
    "Bearings are inspected every 500 hours; log the result in the pump book.",
    "The support desk answers tickets on working days before noon.",
    "Seal kit SK-12 fits the KF-340 and the KF-360 pumps.",
    "Impeller clearance on the KF-360 is 0.3 mm; check it after each seal change.",
    "Error E-103 means the motor overheated; let it cool and check the fan.",
]
QUESTIONS = ["What torque for the KF-340 impeller nut?", "which seal kit fits", "what does E-103 mean"]


@pytest.fixture(scope="module")
def notes_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_notes_kb(tmp_path_factory.mktemp("copy"), NOTES)


def _ranking(kb: KnowledgeBase, question: str) -> list[tuple[str, str, float]]:
    return [(h.doc_id, h.text, h.score) for h in retrieve(kb, question, k=5)]


def test_copy_keeps_the_token_vectors_and_the_reranked_ranking(notes_kb: Path, tmp_path: Path) -> None:
    with KnowledgeBase.open(notes_kb) as src:
        docs = {d.doc_id for d in src.store.documents()}
        kept = src.token_store.stats()["rows"]
        assert kept == len(NOTES) and src.token_store.documents() == docs
        src.token_store.add(
            [("gone-doc", "a row of a document the store no longer has")], [quantize(np.ones((3, 4)))]
        )
    report = copy_kb(notes_kb, tmp_path / "copy")
    assert report.verified and report.token_vectors == kept  # the orphan row is not carried over
    with KnowledgeBase.open(notes_kb) as src, KnowledgeBase.open(tmp_path / "copy") as dst:
        assert dst.token_store.documents() == docs
        assert dst.token_store.stats()["rows"] == kept
        for q in QUESTIONS:
            want, got = _ranking(src, q), _ranking(dst, q)
            assert [(d, t) for d, t, _ in got] == [(d, t) for d, t, _ in want]
            assert np.allclose([s for *_, s in got], [s for *_, s in want], atol=1e-6)
            hits = retrieve(dst, q, k=5)
            assert all("rerank" in h.explain for h in hits[:2]), hits[0].explain
            ids = dst.store.chunk_ids()
            assert passage_tokens(dst, ids)[1] == 0  # every chunk reranks from the copied vectors
        src.token_store.prune(docs)


def test_a_source_without_token_vectors_gives_a_copy_without_them(notes_kb: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    assert copy_kb(notes_kb, bare).token_vectors == len(NOTES)
    for p in bare.glob(TOKENS_DB + "*"):
        p.unlink()
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / TOKENS_DB).write_bytes(b"left by an interrupted copy")
    report = copy_kb(bare, tmp_path / "copy")
    assert report.verified and report.token_vectors == 0
    assert not list((tmp_path / "copy").glob(TOKENS_DB + "*"))
    with KnowledgeBase.open(notes_kb) as src, KnowledgeBase.open(tmp_path / "copy") as dst:
        assert dst.token_store.stats()["rows"] == 0
        assert passage_tokens(dst, dst.store.chunk_ids())[1] == len(NOTES)  # encoded at query time
        for q in QUESTIONS:
            assert [(d, t) for d, t, _ in _ranking(dst, q)] == [(d, t) for d, t, _ in _ranking(src, q)]
