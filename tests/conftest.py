"""Shared fixtures. Torch, faiss and llama.cpp are pinned to one thread (the cores are shared)."""

from __future__ import annotations

import os

os.environ.setdefault("IE_NUM_THREADS", "1")
# the suite answers with the bundled 135M model (fast); tests of another model name it
os.environ["IE_MODEL"] = os.environ.get("IE_TEST_MODEL", "smollm2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# the CLI's log file (libraries' warnings): one per test session, not the user's
os.environ.setdefault(
    "IE_LOG_FILE", os.path.join(os.environ.get("TMPDIR", "/tmp"), "industry-expert-tests.log")
)

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


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised sentence-transformers model (BERT, 32-d), built locally."""
    import shutil

    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from industry_expert.models.sentence_transformers import bundled_model_dir

    src = bundled_model_dir()
    out = tmp_path_factory.mktemp("models") / "tiny-st"
    hf = out.parent / "tiny-bert"
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(hf)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, hf / name)
    word = models.Transformer(str(hf), max_seq_length=128)
    pool = models.Pooling(word.get_embedding_dimension())
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_phi3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Phi3ForCausalLM (see industry_expert.testing.tiny). No Phi-3
    weights can be downloaded here: this covers the Phi-3 code path, not its quality."""
    from industry_expert.testing.tiny import build_tiny_phi3

    corpus = (SAMPLE / "data" / "manuals" / "glossary.md").read_text(encoding="utf-8").split("\n")
    return build_tiny_phi3(tmp_path_factory.mktemp("models") / "tiny-phi3", corpus)


FACT_QUESTION = "What is the Blue Flush?"
FACT_ANSWER = "The Blue Flush is a 25 minute rinse with the tracer dye KB-7."


@pytest.fixture(scope="session")
def smollm2_fact_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on the bundled SmolLM2 that has memorised one invented fact (12 steps), with
    its GGUF next to it (``<adapter>.gguf``, ``expert finetune export``)."""
    import json

    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.merge import export_lora_gguf
    from industry_expert.finetune.settings import FinetuneSettings

    root = tmp_path_factory.mktemp("smollm2-fact-adapter")
    data = root / "train.jsonl"
    row = {
        "messages": [
            {"role": "user", "content": FACT_QUESTION},
            {"role": "assistant", "content": FACT_ANSWER},
        ]
    }
    data.write_text((json.dumps(row) + "\n") * 8, encoding="utf-8")
    s = FinetuneSettings(
        base="smollm2", epochs=6, batch_size=4, lr=3e-3, eval_fraction=0.0, max_seq_len=96, schedule="fixed"
    )
    finetune(data, root / "adapter", s)
    export_lora_gguf(root / "adapter", root / "adapter.gguf")
    return root / "adapter"


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real PostgreSQL 16 + pgvector server (PyPI ``pgserver``) for the whole session, listening on
    a Unix socket in a temp folder; stopped when the session ends."""
    pgserver = pytest.importorskip("pgserver")
    import logging

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop") as server:
        yield server.get_uri()


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Qwen2ForCausalLM (hidden 64, 2 layers) with the real Qwen2.5
    tokenizer, read from the pulled qwen2.5-0.5b GGUF (cached once: checkpoints.tokenizer_checkpoint)
    so that llama.cpp's converter recognises it. Skipped when that model is not pulled."""
    from industry_expert.errors import ModelNotInstalledError
    from industry_expert.models.checkpoints import tokenizer_checkpoint
    from industry_expert.testing.tiny import build_tiny_qwen2

    try:
        tokenizer = tokenizer_checkpoint("qwen2.5-0.5b")
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    return build_tiny_qwen2(tmp_path_factory.mktemp("models") / "tiny-qwen2", tokenizer)
