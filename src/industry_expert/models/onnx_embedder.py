"""A sentence-transformers encoder run by onnxruntime: mean pooling + L2 normalisation in numpy,
tokenisation by the ``tokenizers`` library. No torch or transformers on this path.

Threads: one call with at most ``QUERY_TEXTS`` texts (a query) runs on a one-thread session, so a
query stays fast on a busy machine (no oversubscription); batches (ingest) run on a session with
``batch_threads()`` threads. Both sessions are created lazily and kept.

``embed_tokens`` returns, from the same forward pass as the dense vectors, each text's content
token vectors (unit length; the late-interaction reranker's input, kept by ingest).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from industry_expert.errors import ModelError
from industry_expert.models.threads import batch_threads

QUERY_TEXTS = 4
"""Calls with at most this many texts use the one-thread session."""
BATCH = 32
"""Texts per onnxruntime call; texts are sorted by token length first so a batch pads little."""
SPECIAL_TOKENS = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>"})


def content_rows(tokens: Sequence[str]) -> list[int]:
    """The token rows that carry text: no special tokens, no punctuation-only tokens (never
    empty: a text of marks only keeps its non-special rows, or the first)."""
    keep = [i for i, t in enumerate(tokens) if t not in SPECIAL_TOKENS and any(c.isalnum() for c in t)]
    if not keep:
        keep = [i for i, t in enumerate(tokens) if t not in SPECIAL_TOKENS] or [0]
    return keep


def unit_rows(hidden: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (fp32)."""
    hidden = hidden.astype(np.float32)
    return hidden / np.maximum(np.linalg.norm(hidden, axis=1, keepdims=True), 1e-12)


def _max_tokens(model_dir: Path) -> int:
    """The sequence cap sentence-transformers applies: its ``max_seq_length``, else the smaller
    of the model's position limit and the tokenizer's ``model_max_length``."""
    limits = []
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("config.json", "max_position_embeddings"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        path = model_dir / name
        value = json.loads(path.read_text(encoding="utf-8")).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value < 1_000_000:
            if key == "max_seq_length":
                return value
            limits.append(value)
    return min(limits, default=512)


def _check_pipeline(model_dir: Path) -> None:
    """Only the Transformer -> mean Pooling (-> Normalize) pipeline is reproduced here."""
    pooling = model_dir / "1_Pooling" / "config.json"
    if not pooling.is_file():
        return
    cfg = json.loads(pooling.read_text(encoding="utf-8"))
    modes = (
        [cfg["pooling_mode"]]
        if "pooling_mode" in cfg
        else [
            k.removeprefix("pooling_mode_").removesuffix("_tokens")
            for k, v in cfg.items()
            if k.startswith("pooling_mode_") and v
        ]
    )
    if modes != ["mean"]:
        raise ModelError(f"{model_dir}: pooling {modes} is not supported by the ONNX embedder (mean only)")


class OnnxEmbedder:
    """``id``: the vector space (same as the torch model when the vectors are identical);
    ``variant``: the exact runtime and weights, recorded in a KB manifest."""

    def __init__(self, model_dir: Path, onnx_path: Path, model_id: str, variant: str) -> None:
        _check_pipeline(model_dir)
        self.id = model_id
        self.variant = variant
        self.model_dir = model_dir
        self.onnx_path = onnx_path
        self.max_tokens = _max_tokens(model_dir)
        self._tokenizer: Any = None
        self._counter: Any = None
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()  # sessions are created once even when threads race (serve)
        self._dim: int | None = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tok.enable_truncation(max_length=self.max_tokens)
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own tokenizer, special tokens excluded, never capped
        (the chunker uses it with ``max_tokens`` as the window, as with the torch embedder)."""
        if self._counter is None:
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            counter.no_truncation()
            counter.no_padding()
            self._counter = counter
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def session(self, threads: int) -> Any:
        """The onnxruntime session with ``threads`` intra-op threads (created once; ``run`` is
        thread-safe)."""
        with self._lock:
            if threads not in self._sessions:
                self._sessions[threads] = self._new_session(threads)
        return self._sessions[threads]

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait on shared cores
        opts.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - one clear line
            raise ModelError(f"cannot load ONNX embedder {self.onnx_path}: {exc}") from exc

    @property
    def dim(self) -> int:
        if self._dim is None:
            shape = self.session(1).get_outputs()[0].shape
            self._dim = int(shape[-1]) if isinstance(shape[-1], int) else len(self.embed_batch(["x"])[0])
        return self._dim

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, None, None)[0]

    def embed_tokens(
        self,
        texts: Sequence[str],
        threads: int | None = None,
        keep: Callable[[np.ndarray], Any] | None = None,
    ) -> tuple[np.ndarray, list[Any]]:
        """The dense vectors (as ``embed_batch``) and, from the same forward pass, each text's
        content token vectors (``content_rows``; unit length, fp32), or what ``keep`` makes of
        them (applied as each batch is encoded: ingest quantizes there, so a large wave is never
        held in fp32). ``threads``: the session (default: one for a query-sized call, else
        ``batch_threads()``)."""
        return self._encode(texts, threads, keep or _as_is)

    def _encode(
        self, texts: Sequence[str], threads: int | None, keep: Callable[[np.ndarray], Any] | None
    ) -> tuple[np.ndarray, list[Any]]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        encodings = self.tokenizer.encode_batch(list(texts))
        sess = self.session(threads or (1 if len(texts) <= QUERY_TEXTS else batch_threads()))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), 0), dtype=np.float32)
        tokens: list[Any] = [None] * (len(texts) if keep else 0)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            batch = [encodings[i] for i in rows]
            hidden, mask = self._forward(sess, batch)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), hidden.shape[-1]), dtype=np.float32)
            out[rows] = mean_pool_normalize(hidden, mask)
            if keep is not None:
                for j, e in enumerate(batch):
                    tokens[rows[j]] = keep(unit_rows(hidden[j, content_rows(e.tokens)]))
        return out, tokens

    @staticmethod
    def _forward(sess: Any, encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's token outputs for a padded batch, and its attention mask."""
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        wanted = {i.name for i in sess.get_inputs()}
        return sess.run(None, {k: v for k, v in feeds.items() if k in wanted})[0], mask


def _as_is(tokens: np.ndarray) -> np.ndarray:
    return tokens


def mean_pool_normalize(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under the attention mask, scaled to unit length."""
    m = mask[..., None].astype(np.float32)
    pooled = (tokens * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def onnx_for(model_dir: Path, model_id: str) -> OnnxEmbedder:
    """Any mean-pooling sentence-transformers folder as fp32 ONNX (exported once, cached)."""
    from industry_expert.models.onnx_export import exported_path

    return OnnxEmbedder(model_dir, exported_path(model_dir), model_id, "onnx-fp32")


def bundled_onnx() -> OnnxEmbedder:
    """The bundled all-MiniLM-L6-v2 as fp32 ONNX (exported once from the bundled weights)."""
    from industry_expert.models.sentence_transformers import BUNDLED_ID, bundled_model_dir

    return onnx_for(bundled_model_dir(), BUNDLED_ID)


def bundled_onnx_int8() -> OnnxEmbedder:
    """The bundled MiniLM with dynamically quantized int8 MatMul weights (per channel). Its vectors
    differ from fp32 (a different embedder id); see bench/results/embedder_int8.md before use."""
    from industry_expert.models.onnx_export import exported_path, quantized_path
    from industry_expert.models.sentence_transformers import BUNDLED_ID, bundled_model_dir

    model_dir = bundled_model_dir()
    return OnnxEmbedder(
        model_dir, quantized_path(exported_path(model_dir)), f"{BUNDLED_ID}#int8", "onnx-int8"
    )
