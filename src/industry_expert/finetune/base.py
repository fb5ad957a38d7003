"""Loading the base model for training: fp32 (LoRA, full), bf16 on a GPU, or 4-bit NF4 (QLoRA).
Which model ``base`` names is resolved in ``models/checkpoints.py`` (shared with the generators)."""

from __future__ import annotations

from typing import Any

from industry_expert.errors import ModelError
from industry_expert.models.checkpoints import CACHE, bundled_hf_checkpoint, resolve_base
from industry_expert.models.threads import pin_torch

__all__ = ["CACHE", "bundled_hf_checkpoint", "resolve_base", "load_tokenizer", "load_model"]


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
