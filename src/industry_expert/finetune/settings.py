"""Fine-tuning settings: one dataclass, loadable from YAML, saved next to every adapter."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from industry_expert.config import read_config_file
from industry_expert.errors import ConfigError

METHODS = ("lora", "qlora", "full")
BATCHING = ("bucket", "pack", "pad")


@dataclass
class FinetuneSettings:
    base: str = "smollm2"
    """Base model: ``smollm2`` (the bundled GGUF, converted once to a cached HF checkpoint) or a
    Hugging Face id/path such as ``microsoft/Phi-3-mini-4k-instruct``."""
    method: str = "lora"
    """``lora``; ``qlora`` (4-bit NF4 base, bitsandbytes); ``full`` (all weights; small models)."""
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | None = None
    """LoRA targets; default per architecture (Phi-3: qkv_proj, o_proj, gate_up_proj, down_proj)."""
    epochs: int = 3
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs when reached first)."""
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_seq_len: int = 512
    batching: str = "bucket"
    """``bucket`` (length-sorted batches), ``pack`` (examples concatenated up to max_seq_len) or
    ``pad`` (shuffled, padded to the longest): padding never counts in the loss."""
    eval_fraction: float = 0.1
    seed: int = 0
    gradient_checkpointing: bool = False
    save_every: int = 0
    """Also checkpoint every N optimizer steps (0: at the end of each epoch only)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got '{self.method}'")
        if self.batching not in BATCHING:
            raise ConfigError(f"batching must be one of {', '.join(BATCHING)}, got '{self.batching}'")
        for name in ("lora_r", "epochs", "batch_size", "grad_accum", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.eval_fraction < 1:
            raise ConfigError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")

    @classmethod
    def load(cls, path: str | Path | None, **overrides: Any) -> FinetuneSettings:
        data = read_config_file(Path(path)) if path else {}
        data.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown fine-tuning setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
