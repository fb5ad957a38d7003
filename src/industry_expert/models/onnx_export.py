"""One-time export of a sentence-transformers (BERT-style) encoder to ONNX, cached on disk.

Only this module imports torch/transformers, and only when no cached export exists yet: the query
path (``OnnxEmbedder``) needs onnxruntime, tokenizers and numpy alone. The export runs the
TorchScript-based ``torch.onnx.export`` (``dynamo=False``: the dynamo exporter needs onnxscript)
with the model wrapped so its inputs are passed by name, dynamic batch and sequence axes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path

from industry_expert.errors import ModelError

EXPORT_VERSION = "1"
"""Bumped when the exported graph changes (a new cache entry is then made)."""
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    root = os.environ.get("IE_CACHE") or "~/.cache/industry-expert"  # as models/checkpoints.py
    return Path(root).expanduser() / "models" / "onnx"


def model_fingerprint(model_dir: Path) -> str:
    """Identity of a model folder: its config files and the size and head of its weights."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for name in ("config.json", "modules.json", "tokenizer.json", "1_Pooling/config.json"):
        if (model_dir / name).is_file():
            digest.update((model_dir / name).read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        with open(weights, "rb") as fh:
            digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def exported_path(model_dir: Path) -> Path:
    """Path of the cached fp32 ONNX export of ``model_dir``, exporting it on first use."""
    out = cache_dir() / f"encoder-{model_fingerprint(model_dir)}" / "model.onnx"
    if not out.is_file():
        print(f"exporting {model_dir.name} to ONNX once (cached in {out.parent})", file=sys.stderr)
        export(model_dir, out)
    return out


def export(model_dir: Path, out: Path) -> None:
    """Export the encoder's token vectors (``last_hidden_state``); pooling stays in numpy."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(f"exporting {model_dir} to ONNX needs torch and transformers: {exc}") from exc
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class ByName(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constant shapes: axes are declared
        torch.onnx.export(
            ByName(),
            (sample, sample, torch.zeros_like(sample)),
            str(tmp),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, out)


def quantized_path(fp32: Path) -> Path:
    """Dynamic int8 quantization of an exported model's MatMul weights (per channel), cached."""
    out = fp32.with_name("model.int8.onnx")
    if not out.is_file():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        os.replace(tmp, out)
    return out
