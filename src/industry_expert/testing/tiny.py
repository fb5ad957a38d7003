"""Tiny randomly initialised models built locally (no downloads): the Phi-3 architecture with a
word-level tokenizer that knows Phi-3's special tokens, and the Qwen2 architecture with the real
Qwen2.5 tokenizer (so llama.cpp's converter recognises it). They exercise code paths, not quality."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PHI3_SPECIALS = [
    "<unk>",
    "<s>",
    "</s>",
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]


def build_tiny_phi3(
    out: Path,
    corpus: list[str],
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    init_range: float = 0.3,
    seed: int = 0,
) -> Path:
    """Save a random ``Phi3ForCausalLM`` and its tokenizer to ``out`` (no chat template on purpose:
    the Phi-3 fallback must supply the exact one). A larger ``init_range`` lets adapters alone move
    the loss of a random network."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Phi3Config, Phi3ForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=PHI3_SPECIALS, vocab_size=2000))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
    )
    fast.save_pretrained(out)
    sizes = _sizes(fast, hidden, layers, heads, heads, init_range)
    return _save_random(out, Phi3ForCausalLM, Phi3Config(**sizes), seed)


def build_tiny_qwen2(
    out: Path,
    tokenizer_from: Path,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    init_range: float = 0.3,
    seed: int = 0,
) -> Path:
    """Save a random ``Qwen2ForCausalLM`` with the real Qwen2.5 tokenizer (vocabulary 151,936, its
    ChatML template) to ``out``. ``tokenizer_from`` is a Qwen2.5 GGUF (the pulled
    ``qwen2.5-0.5b``: transformers rebuilds the tokenizer from its metadata) or an HF directory.
    llama.cpp's ``convert_hf_to_gguf.py`` recognises BPE tokenizers by a hash of their
    pre-tokenizer, so a home-made one would not convert; the network stays tiny (hidden 64: about
    10M parameters, nearly all in the tied embedding)."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    src = Path(tokenizer_from)
    if src.suffix == ".gguf":
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    else:
        tok = AutoTokenizer.from_pretrained(src)
    tok.save_pretrained(out)
    config = Qwen2Config(
        **_sizes(tok, hidden, layers, heads, kv_heads, init_range),
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        tie_word_embeddings=True,
    )
    return _save_random(out, Qwen2ForCausalLM, config, seed)


def _sizes(
    tok: Any, hidden: int, layers: int, heads: int, kv_heads: int, init_range: float
) -> dict[str, Any]:
    """The config fields both tiny architectures share: their sizes and the tokenizer's ids."""
    return {
        "vocab_size": len(tok),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": 512,
        "initializer_range": init_range,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }


def _save_random(out: Path, model_cls: Any, config: Any, seed: int) -> Path:
    """Initialise ``model_cls(config)`` from ``seed`` and save it to ``out``."""
    import torch

    torch.manual_seed(seed)
    model_cls(config).save_pretrained(out)
    return out
