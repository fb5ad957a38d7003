"""Fine-tuning settings live in the one settings tree (:mod:`industry_expert.config`, section
``finetune:``); this module re-exports them and holds the per-architecture LoRA targets."""

from __future__ import annotations

from industry_expert.config import BATCHING, METHODS, FinetuneSettings

__all__ = ["BATCHING", "METHODS", "TARGETS", "FinetuneSettings", "target_modules"]

TARGETS = {
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma3_text": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense"],
    "gpt2": ["c_attn", "c_proj"],
}


def target_modules(model_type: str, override: list[str] | None) -> list[str] | str:
    """Sensible LoRA targets per architecture; unknown ones get every linear layer."""
    if override:
        return override
    return TARGETS.get(model_type, "all-linear")
