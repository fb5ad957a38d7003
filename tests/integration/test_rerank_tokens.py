"""Late-interaction reranking with the bundled embedder's own token vectors (real ONNX model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SAMPLE
from tests.integration.conftest import build_notes_kb

from industry_expert.config import RetrieveSettings
from industry_expert.models.onnx_embedder import bundled_onnx
from industry_expert.retrieve.rerank import maxsim_scores, token_vectors

pytestmark = pytest.mark.slow


def test_token_vectors_are_the_ones_the_dense_vector_averages() -> None:
    embedder = bundled_onnx()
    texts = ["How tight is the impeller nut on the KF-340?", "Seal kit SK-12 fits both pumps. " * 30]
    encoded = token_vectors(embedder, texts)
    dense = embedder.embed_batch(texts)
    for enc, vec in zip(encoded, dense):
        assert float(enc.pooled @ vec) > 0.99999  # same encoder pass, same mean pooling
        assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
        assert np.allclose(np.linalg.norm(enc.vectors, axis=1), 1, atol=1e-5)
        assert len(enc.content()) < len(enc.tokens)  # special tokens and "?"/"." left out
    assert len(encoded[1].tokens) == embedder.max_tokens  # truncated like the dense vector


def test_maxsim_prefers_the_passage_with_the_query_terms() -> None:
    passages = [
        "Pump maintenance schedule: inspect the bearings every 500 hours and log the result.",
        "Tighten the impeller nut of the KF-340 to 45 Nm; use a new lock washer each time.",
        "Our offices are closed on public holidays; support tickets are answered the next day.",
    ]
    scores = maxsim_scores(bundled_onnx(), "What torque does the KF-340 impeller nut take?", passages)
    assert int(np.argmax(scores)) == 1
    assert scores[1] - max(scores[0], scores[2]) > 0.05, scores


def test_rerank_kb_reorders_only_the_top_of_a_real_kb(tmp_path: Path) -> None:
    from industry_expert.ingest.pipeline import ingest
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import fuse, gather
    from industry_expert.retrieve.rerank import rerank_kb

    data = tmp_path / "data"
    data.mkdir()
    for i, body in enumerate(
        [
            "The KF-340 impeller nut is tightened to 45 Nm with a new lock washer.",
            "Bearings are inspected every 500 hours; log the result in the pump book.",
            "The support desk answers tickets on working days before noon.",
            "Seal kit SK-12 fits the KF-340 and the KF-360 pumps.",
        ]
    ):
        (data / f"doc{i}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    assert ingest([str(data)], tmp_path / "kb").ok
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        query = "What torque for the KF-340 impeller nut?"
        ranked, _ = fuse(gather(kb, query, 10), RetrieveSettings())
        out, sims = rerank_kb(kb, query, ranked, 3, 3.0)
        assert sorted(sims) == sorted(c for c, _ in ranked[:3]) == sorted(c for c, _ in out[:3])
        assert [c for c, _ in out[3:]] == [c for c, _ in ranked[3:]]  # the rest keep their order
        assert [x for _, x in out] == sorted((x for _, x in out), reverse=True)  # on one scale
        assert kb.store.hits([out[0][0]])[out[0][0]].text.startswith("The KF-340 impeller nut")


def test_retrieve_reranks_the_fused_top_by_default_and_explains_it(sample_kb: Path) -> None:
    """The default ``rerank: auto`` reorders only the fused ranking's best ``rerank_depth`` chunks
    (each hit says its fused rank and MaxSim), changes some rankings of the sample's questions,
    and ``rerank: none`` gives the plain fused order."""
    import json

    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import fuse, gather, retrieve

    questions = [
        json.loads(x)["question"] for x in (SAMPLE / "questions.jsonl").read_text().splitlines()[:25]
    ]
    s, off = RetrieveSettings(rerank_depth=6), RetrieveSettings(rerank="none")
    changed = 0
    with KnowledgeBase.open(sample_kb) as kb:
        for q in questions:
            hits, plain = retrieve(kb, q, 5, settings=s), retrieve(kb, q, 5, settings=off)
            fused = [cid for cid, _ in fuse(gather(kb, q, s.candidates), s)[0]]
            assert all("rerank" not in h.explain for h in plain)
            assert "rerank" in hits[0].explain  # (a near-duplicate collapsed can bring in #7+)
            for h in (h for h in hits if "rerank" in h.explain):
                rr = h.explain["rerank"]
                assert rr["fused_rank"] <= 6 and fused[rr["fused_rank"] - 1] == h.chunk_id
                assert -1 <= rr["maxsim"] <= 1 and rr["weight"] == 3.0
            changed += [h.chunk_id for h in hits] != [h.chunk_id for h in plain]
    assert changed >= 3, changed


def test_rerank_maxsim_needs_token_vectors_and_auto_skips(tiny_st_model: Path, tmp_path: Path) -> None:
    from industry_expert.config import Settings
    from industry_expert.errors import ConfigError
    from industry_expert.ingest.pipeline import ingest
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import retrieve

    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"n{i}.md").write_text(f"# Note {i}\n\nPump note number {i} about seals.\n", encoding="utf-8")
    assert ingest([str(data)], tmp_path / "kb", Settings(embedder=f"st:{tiny_st_model}")).ok
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        hits = retrieve(kb, "pump seals", 3)  # auto: this embedder gives no token vectors
        assert hits and all("rerank" not in h.explain for h in hits)
        with pytest.raises(ConfigError, match="rerank: maxsim needs token vectors"):
            retrieve(kb, "pump seals", 3, settings=RetrieveSettings(rerank="maxsim"))


NOTES = [
    "The KF-340 impeller nut is tightened to 45 Nm with a new lock washer.",
    "Bearings are inspected every 500 hours; log the result in the pump book.",
    "The support desk answers tickets on working days before noon.",
    "Seal kit SK-12 fits the KF-340 and the KF-360 pumps.",
    "Impeller clearance on the KF-360 is 0.3 mm; check it after each seal change.",
]


def _notes_kb(tmp_path: Path) -> Path:
    return build_notes_kb(tmp_path, NOTES)


def test_kept_token_vectors_give_the_query_time_maxsim_order(tmp_path: Path) -> None:
    """Ingest keeps every chunk's token vectors (int8) from its embedding pass; MaxSim over them
    orders the passages as MaxSim over vectors encoded now (fp32) does, and the query's dense
    vector from the same pass is ``kb.embed``'s."""
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.rerank import maxsim, passage_tokens, query_tokens
    from industry_expert.types import section_text

    with KnowledgeBase.open(_notes_kb(tmp_path)) as kb:
        ids = kb.store.chunk_ids()
        hits = kb.store.hits(ids)
        assert kb.token_store.stats()["rows"] == len(ids) == len(NOTES)
        for query in (
            "What torque for the KF-340 impeller nut?",
            "when is the support desk open",
            "seal kit",
        ):
            vector, qv = query_tokens(kb, query)
            assert float(vector @ kb.embed([query])[0]) > 0.99999
            stored, encoded_now = passage_tokens(kb, ids)
            assert encoded_now == 0
            fresh = maxsim_scores(
                kb.embedder, query, [section_text(hits[c].section, hits[c].text) for c in ids]
            )
            kept = [maxsim(qv, m) for m in stored]
            assert np.argsort(kept).tolist() == np.argsort(fresh).tolist()
            assert np.allclose(kept, fresh, atol=5e-3)


def test_removing_or_replacing_a_document_removes_its_token_vectors(tmp_path: Path) -> None:
    from industry_expert.ingest.pipeline import ingest
    from industry_expert.kb import KnowledgeBase

    kb_path = _notes_kb(tmp_path)
    data = tmp_path / "data"
    (data / "doc0.md").write_text("# Note 0\n\nThe KF-340 impeller nut now takes 50 Nm.\n", encoding="utf-8")
    (data / "doc1.md").unlink()
    assert ingest([str(data)], kb_path).ok
    with KnowledgeBase.open(kb_path) as kb:
        docs = {d.source.rsplit("/", 1)[-1]: d.doc_id for d in kb.store.documents()}
        assert "doc1.md" not in docs and kb.token_store.stats()["rows"] == len(NOTES) - 1
        assert kb.token_store.documents() == set(docs.values())
        hit = kb.store.hits([i for i in kb.store.chunk_ids()])
        new = next(h for h in hit.values() if h.doc_id == docs["doc0.md"])
        from industry_expert.types import section_text

        assert kb.token_store.get([(new.doc_id, section_text(new.section, new.text))])[0] is not None
        assert kb.delete_documents([docs["doc0.md"]]) == 1
        assert kb.token_store.stats()["rows"] == len(NOTES) - 2


def test_a_kb_without_kept_token_vectors_still_searches_the_same(tmp_path: Path) -> None:
    """A KB from before token vectors were kept (no tokens.sqlite): the rerank encodes the
    passages at query time and ranks as with the kept vectors; ``fill_token_vectors`` adds them."""
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import retrieve
    from industry_expert.store.token_vectors import TOKENS_DB

    kb_path = _notes_kb(tmp_path)
    query = "What torque for the KF-340 impeller nut?"
    with KnowledgeBase.open(kb_path) as kb:
        with_kept = retrieve(kb, query, 5)
    for p in kb_path.glob(TOKENS_DB + "*"):
        p.unlink()
    with KnowledgeBase.open(kb_path) as kb:
        without = retrieve(kb, query, 5)
        assert [h.chunk_id for h in without] == [h.chunk_id for h in with_kept]
        assert all("rerank" in h.explain for h in without)
        assert not (kb_path / TOKENS_DB).exists()  # a search never writes
        assert kb.fill_token_vectors() == len(NOTES) and kb.fill_token_vectors() == 0
        assert [h.chunk_id for h in retrieve(kb, query, 5)] == [h.chunk_id for h in with_kept]
