"""The OpenAI-compatible embeddings backend against a real local llama.cpp server (not a mock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from industry_expert.config import RemoteSettings, Settings
from industry_expert.errors import EmbedderMismatchError, ModelError
from industry_expert.ingest.pipeline import ingest
from industry_expert.kb import KnowledgeBase
from industry_expert.models.openai_compat import OpenAIEmbedder
from industry_expert.retrieve.hybrid import search
from industry_expert.testing.llama_server import free_port, llama_server

pytestmark = [pytest.mark.slow, pytest.mark.server]
KEY = "test-key-123"
# llama-cpp-python's server mixes the sequences of one batched request when the model is a causal
# LM (no pooling layer): one input per request keeps its vectors exact.
BATCH = 1


@pytest.fixture(scope="module")
def embed_url() -> Iterator[str]:
    with llama_server(embedding=True, api_key=KEY) as url:
        yield url


def test_embeddings_endpoint_round_trip(embed_url: str) -> None:
    emb = OpenAIEmbedder("smollm2", embed_url, api_key=KEY, batch_size=BATCH)
    vecs = emb.embed_batch(["Blue Flush rinse", "Green Tag lockout", "Blue Flush rinse"])
    assert vecs.shape == (3, 576) and emb.dim == 576
    np.testing.assert_allclose(vecs[0], vecs[2], rtol=1e-3, atol=1e-4)
    assert not np.allclose(vecs[0], vecs[1], atol=1e-2)
    batched = OpenAIEmbedder("smollm2", embed_url, api_key=KEY, batch_size=8).embed_batch(["a", "b"])
    assert batched.shape == (2, 576)


def test_kb_with_remote_embedder(embed_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IE_API_KEY", KEY)
    monkeypatch.setenv("IE_EMBED_BATCH_SIZE", str(BATCH))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.md").write_text("# Seals\n\nThe KF-340 seal kit is KP-3402-07.\n", encoding="utf-8")
    (data / "b.md").write_text("# Grease\n\nRegrease bearings every 3000 hours.\n", encoding="utf-8")
    kb = tmp_path / "kb"
    report = ingest([str(data)], kb, Settings(embedder=f"openai:smollm2@{embed_url}"))
    assert report.ok and report.chunks_added == 2
    with KnowledgeBase.open(kb) as opened:
        assert opened.manifest["embedder"] == {
            "spec": f"openai:smollm2@{embed_url}",
            "id": "openai:smollm2",
            "dim": 576,
        }
        with pytest.raises(EmbedderMismatchError, match="openai:smollm2"):
            KnowledgeBase.open(kb, embedder="minilm")
    assert search("seal kit part number", kb, k=1)[0].source.endswith("a.md")


def test_wrong_key_and_unreachable_endpoint(embed_url: str) -> None:
    with pytest.raises(ModelError, match="rejected the API key"):
        OpenAIEmbedder("smollm2", embed_url, api_key="wrong").embed_batch(["x"])
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match="cannot reach"):
        OpenAIEmbedder("smollm2", dead, api_key=KEY, remote=RemoteSettings(max_retries=0)).embed_batch(["x"])
