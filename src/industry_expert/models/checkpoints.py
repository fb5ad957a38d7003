"""Base-model resolution shared by the generators and the fine-tuning recipes: the bundled
SmolLM2 (GGUF dequantized once to a cached Hugging Face checkpoint) or any HF model id or path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.models.threads import pin_torch

CACHE = Path(os.environ.get("IE_CACHE", Path.home() / ".cache" / "industry-expert"))
"""Converted checkpoints, the llama.cpp source archive and built wheels live here."""
BUNDLED_NAMES = ("smollm2", "default")


def bundled_hf_checkpoint() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF dequantized to an fp32 HF checkpoint, once."""
    from industry_expert.models.llamacpp import bundled_gguf

    gguf = bundled_gguf()
    out = CACHE / "models" / f"{gguf.stem}-hf"
    if (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pin_torch()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # transformers marks GGUF-loaded models as quantized and refuses to save them
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(out)
    return out


def resolve_base(base: str) -> str:
    """A loadable HF name or directory for ``base`` (``smollm2``, an HF id, or a local directory)."""
    if base in BUNDLED_NAMES:
        return str(bundled_hf_checkpoint())
    path = Path(base).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelError(f"{base}: not a Hugging Face model directory (no config.json)")
    if not path.exists() and (base.startswith((".", "/", "~")) or base.count("/") > 1):
        raise ModelError(f"{base}: base model path does not exist")
    return str(path) if path.exists() else base
