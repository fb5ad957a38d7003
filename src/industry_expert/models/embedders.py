"""The Embedder Protocol, spec parsing and the backend registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

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
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.bundled()


def _st(arg: str) -> Embedder:
    from industry_expert.models.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(arg)


def _openai(arg: str) -> Embedder:
    from industry_expert.models.openai_compat import OpenAIEmbedder

    return OpenAIEmbedder.from_spec(arg)


BACKENDS: dict[str, Callable[[str], Embedder]] = {"minilm": _minilm, "st": _st, "openai": _openai}


def load_embedder(spec: str) -> Embedder:
    """``minilm`` | ``st:PATH_OR_ID`` | ``openai:MODEL[@BASE_URL]``."""
    kind, _, arg = spec.partition(":")
    if kind not in BACKENDS:
        raise ConfigError(f"unknown embedder '{spec}' (use minilm, st:PATH, or openai:MODEL@BASE_URL)")
    if kind != "minilm" and not arg:
        raise ConfigError(f"embedder spec '{spec}' needs a model after '{kind}:'")
    return BACKENDS[kind](arg)
