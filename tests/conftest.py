"""Shared fixtures. Torch, faiss and llama.cpp are pinned to one thread (the cores are shared)."""

from __future__ import annotations

import os

os.environ.setdefault("IE_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "kestrel"


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE / "data"


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Path:
    """The whole sample company ingested once with the real bundled embedder."""
    from industry_expert.ingest.pipeline import ingest

    kb = tmp_path_factory.mktemp("kb") / "kestrel"
    report = ingest([str(sample_data)], kb)
    assert report.ok, report.to_dict()["errors"]
    return kb
