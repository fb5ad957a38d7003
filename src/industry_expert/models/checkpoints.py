"""Base-model resolution shared by the generators and the fine-tuning recipes: a catalogue model
(``smollm2``, ``qwen2.5-0.5b``, ``qwen2.5-1.5b``: its pulled GGUF dequantized once to a cached
Hugging Face checkpoint) or any HF model id or path.

transformers dequantizes a GGUF to fp32 (``from_pretrained(dir, gguf_file=name)``); the checkpoint
it writes is cached under ``$IE_CACHE/models/<gguf stem>-hf``, keyed by the GGUF's file name. On
disk that is 0.54 GB for SmolLM2-135M and 2.5 GB for the Qwen2.5 0.5B (its output matrix is saved
untied), ~7 GB expected for the 1.5B. Measured once for the 0.5B: 5 min wall, 56 s CPU, peak RSS
3.9 GB on 2 busy cores (SmolLM2: ~30-60 s)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from industry_expert.errors import ConfigError, ModelError
from industry_expert.models.threads import pin_torch

CACHE = Path(os.environ.get("IE_CACHE", Path.home() / ".cache" / "industry-expert"))
"""Converted checkpoints, the llama.cpp source archive and built wheels live here."""
ADAPTER_BASE_KEY = "industry_expert.base"
"""GGUF metadata key of an exported adapter (``expert finetune export``): the base it was trained on."""
ALIASES = {"default": "smollm2"}
"""Other names a base may be given by (``default``: the default generator)."""


def catalogue_name(base: str) -> str | None:
    """The catalogue name ``base`` stands for (``smollm2``, ``qwen2.5-0.5b``...), else None."""
    from industry_expert.models.catalog import CATALOG

    name = ALIASES.get(base, base)
    return name if name in CATALOG else None


def _dequantize(gguf: Path, out: Path) -> None:
    """Write ``gguf`` as an fp32 HF checkpoint (model and tokenizer) to ``out``, atomically."""
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
    _publish(tmp, out)


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` folder to ``out``, unless another process finished first."""
    if out.exists():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(out)


def hf_checkpoint(name: str = "smollm2") -> Path:
    """The catalogue model ``name``'s GGUF dequantized to an fp32 HF checkpoint, once (cached by
    the GGUF's file name). A model not pulled yet: the catalogue's one-line "not installed: run
    expert models pull NAME" (``ModelNotInstalledError``)."""
    from industry_expert.models.catalog import model_path

    gguf = model_path(ALIASES.get(name, name))
    out = CACHE / "models" / f"{gguf.stem}-hf"
    if not ((out / "config.json").is_file() and (out / "tokenizer_config.json").is_file()):
        _dequantize(gguf, out)
    return out


def tokenizer_checkpoint(name: str) -> Path:
    """A directory with the catalogue model ``name``'s tokenizer (and chat template): its HF
    checkpoint when converted, else the tokenizer alone, rebuilt from the GGUF once and cached
    (11 MB for Qwen2.5; the first time 60 s wall, 14 s CPU on busy cores; < 1 s to load after)."""
    from industry_expert.models.catalog import model_path

    gguf = model_path(ALIASES.get(name, name))
    out = CACHE / "models" / f"{gguf.stem}-tokenizer"
    for done in (CACHE / "models" / f"{gguf.stem}-hf", out):
        if (done / "tokenizer_config.json").is_file():
            return done
    from transformers import AutoTokenizer

    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    _publish(tmp, out)
    return out


def bundled_hf_checkpoint() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF dequantized to an fp32 HF checkpoint, once."""
    return hf_checkpoint("smollm2")


def resolve_base(base: str) -> str:
    """A loadable HF name or directory for ``base``: a catalogue name (``smollm2``,
    ``qwen2.5-0.5b``, ``qwen2.5-1.5b``; ``default``), an HF id, or a local directory."""
    name = catalogue_name(base)
    if name:
        return str(hf_checkpoint(name))
    path = Path(base).expanduser()
    if path.exists() and not (path / "config.json").is_file():
        raise ModelError(f"{base}: not a Hugging Face model directory (no config.json)")
    if not path.exists() and (base.startswith((".", "/", "~")) or base.count("/") > 1):
        raise ModelError(f"{base}: base model path does not exist")
    return str(path) if path.exists() else base


def adapter_base(adapter: Path) -> str | None:
    """The base a GGUF adapter was trained on (``expert finetune export`` records it), or None for
    an adapter exported elsewhere."""
    from industry_expert.models.gguf_meta import read_metadata

    try:
        value = read_metadata(Path(adapter), {ADAPTER_BASE_KEY}).get(ADAPTER_BASE_KEY)
    except (OSError, ValueError):
        return None
    return str(value) if value else None


def check_adapter_base(model: str | Path, adapter: str | Path) -> None:
    """Refuse, in one line, a GGUF adapter made for another base than ``model`` (a catalogue name
    or a GGUF path): llama.cpp itself loads an adapter of the wrong width and then crashes the
    process (a segmentation fault in the pinned llama-cpp-python) at the first token. The base the export
    recorded is compared by catalogue name (a catalogue file is known by its name); the
    architecture, layer count and width are compared with the model's GGUF when it is a file."""
    from industry_expert.models.catalog import CATALOG, model_path

    trained = catalogue_name(adapter_base(Path(adapter)) or "")
    by_file = {m.filename: n for n, m in CATALOG.items()}
    target = catalogue_name(str(model)) or by_file.get(Path(model).name)
    if trained and target and trained != target:
        raise ConfigError(
            f"{adapter} was trained on {trained}, not {target}: use --model {trained} with this adapter"
        )
    named = catalogue_name(str(model))
    path = model_path(named) if named else Path(model)
    if path.is_file():
        _check_shapes(path, Path(adapter))


def _adapter_shapes(adapter: Path) -> tuple[str, dict[int, int]]:
    """The adapter's architecture and, per layer, the input width of its attention LoRA."""
    import gguf

    reader = gguf.GGUFReader(adapter)
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    widths = {}
    for t in reader.tensors:
        parts = t.name.split(".")
        if parts[0] == "blk" and parts[2] in ("attn_q", "attn_k", "attn_v") and t.name.endswith(".lora_a"):
            widths[int(parts[1])] = int(t.shape[0])  # ggml order: (in_features, rank)
    return arch, widths


def _check_shapes(model: Path, adapter: Path) -> None:
    from industry_expert.models.gguf_meta import read_metadata

    try:
        arch, widths = _adapter_shapes(adapter)
        meta = read_metadata(model, {"general.architecture"})
        m_arch = str(meta.get("general.architecture", ""))
        keys = {f"{m_arch}.embedding_length", f"{m_arch}.block_count"}
        meta = read_metadata(model, keys)
    except (OSError, ValueError, KeyError):
        return  # not readable here: llama.cpp says what is wrong
    width, blocks = meta.get(f"{m_arch}.embedding_length"), meta.get(f"{m_arch}.block_count")
    if arch != m_arch:
        raise ConfigError(f"{adapter} is an adapter for a {arch} model; {model.name} is {m_arch}")
    wrong = sorted({w for w in widths.values() if width and w != width})
    deeper = bool(blocks and widths and max(widths) >= blocks)
    if wrong or deeper:
        what = [f"width {wrong[0]} vs {width}"] if wrong else []
        what += [f"{max(widths) + 1} layers vs {blocks}"] if deeper else []
        raise ConfigError(
            f"{adapter} was made for another base than {model.name} ({', '.join(what)}): "
            "export it from an adapter trained on this model"
        )
