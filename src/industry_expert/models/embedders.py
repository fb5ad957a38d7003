"""The Embedder Protocol, spec parsing and the backend registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from industry_expert.config import RemoteSettings
from industry_expert.errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns a batch of texts into vectors."""

    id: str
    """Stable identity recorded in a KB manifest (same id = same vector space)."""

    @property
    def dim(self) -> int: ...

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dim)."""
        ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _minilm(_: str) -> Embedder:
    """The bundled MiniLM on onnxruntime (same vectors as torch, measured cosine >= 0.9999999;
    bench/results/cold_start.md), or on torch when onnxruntime/tokenizers are missing."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("tokenizers"):
        from industry_expert.models.onnx_embedder import bundled_onnx

        return bundled_onnx()
    return _minilm_torch("")


def _minilm_int8(_: str) -> Embedder:
    """Experimental: int8 weights, different vectors (own id); not the default."""
    from industry_expert.models.onnx_embedder import bundled_onnx_int8

    return bundled_onnx_int8()


def _minilm_torch(_: str) -> Embedder:
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.bundled()


def _st(arg: str) -> Embedder:
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(arg)


def _openai(arg: str, remote: RemoteSettings | None = None) -> Embedder:
    from industry_expert.models.openai_compat import OpenAIEmbedder

    return OpenAIEmbedder.from_spec(arg, remote)


BACKENDS: dict[str, Callable[[str], Embedder]] = {
    "minilm": _minilm,
    "minilm-torch": _minilm_torch,
    "minilm-int8": _minilm_int8,
    "st": _st,
    "openai": _openai,
}


def load_embedder(spec: str, remote: RemoteSettings | None = None) -> Embedder:
    """``minilm`` (ONNX) | ``minilm-torch`` | ``st:PATH_OR_ID`` | ``openai:MODEL[@BASE_URL]``; ``remote``: timeouts and
    retries of an ``openai:`` embedder."""
    kind, _, arg = spec.partition(":")
    if kind not in BACKENDS:
        raise ConfigError(f"unknown embedder '{spec}' (use minilm, st:PATH, or openai:MODEL@BASE_URL)")
    if not kind.startswith("minilm") and not arg:
        raise ConfigError(f"embedder spec '{spec}' needs a model after '{kind}:'")
    if kind == "openai":
        return _openai(arg, remote)
    return BACKENDS[kind](arg)
