"""Loading the base model: the bundled SmolLM2 (GGUF -> cached HF checkpoint) or any HF model,
in fp32 (LoRA, full) or 4-bit NF4 (QLoRA)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.models.threads import pin_torch

CACHE = Path(os.environ.get("IE_CACHE", Path.home() / ".cache" / "industry-expert"))


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
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(out)
    return out


def resolve_base(base: str) -> str:
    if base in ("smollm2", "default"):
        return str(bundled_hf_checkpoint())
    path = Path(base).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelError(f"{base}: not a Hugging Face model directory (no config.json)")
    if not path.exists() and (base.startswith((".", "/", "~")) or base.count("/") > 1):
        raise ModelError(f"{base}: base model path does not exist")
    return str(path) if path.exists() else base


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise ModelError(f"cannot load tokenizer of '{name}': {exc}") from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def train_device(local_rank: int = 0) -> str:
    import torch

    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def compute_dtype(device: str, method: str) -> Any:
    """fp32 on the CPU and for full fine-tuning; bf16 base weights for (Q)LoRA on a GPU."""
    import torch

    if device.startswith("cuda") and method != "full" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_model(name: str, method: str, device: str = "cpu") -> Any:
    """The base model on ``device``: fp32/bf16 weights, or 4-bit NF4 for QLoRA."""
    from transformers import AutoModelForCausalLM

    pin_torch()
    dtype = compute_dtype(device, method)
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": device}
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except OSError as exc:
        raise ModelError(f"cannot load base model '{name}': {exc}") from exc
    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def weight_bytes(model: Any) -> int:
    """Bytes held by the frozen base weights (parameters and buffers, 4-bit packed included)."""
    total = 0
    for name, p in list(model.named_parameters()) + list(model.named_buffers()):
        if "lora_" not in name:
            total += p.numel() * p.element_size()
    return total
