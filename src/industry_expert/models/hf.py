"""Hugging Face transformers backend: a model id or local path, optionally with a PEFT adapter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from industry_expert.errors import ModelError
from industry_expert.models.generators import Messages, check_context
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE, render
from industry_expert.models.threads import pin_torch


class HFGenerator:
    def __init__(self, name_or_path: str, adapter: str | None = None, model=None, tokenizer=None) -> None:  # type: ignore[no-untyped-def]
        pin_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        has_own = adapter and (Path(adapter) / "tokenizer_config.json").is_file()
        try:
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(adapter if has_own else name_or_path)
            self.model = model or AutoModelForCausalLM.from_pretrained(name_or_path)
        except OSError as exc:
            raise ModelError(f"cannot load Hugging Face model '{name_or_path}': {exc}") from exc
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()
        model_type = getattr(self.model.config, "model_type", "")
        template = self.tokenizer.chat_template or FALLBACK_BY_ARCHITECTURE.get(model_type)
        if not template:
            raise ModelError(f"'{name_or_path}' has no chat template (a base model?)")
        self.template: str = template
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.id = f"hf:{name_or_path}" + (f"+adapter:{Path(adapter).name}" if adapter else "")

    @classmethod
    def from_adapter(cls, adapter: str) -> HFGenerator:
        """An adapter (or full fine-tuned model) made by ``expert finetune``, on its own base."""
        from industry_expert.finetune.base import resolve_base
        from industry_expert.finetune.merge import adapter_manifest

        manifest = adapter_manifest(adapter)
        if manifest["kind"] in ("full-model", "merged-model"):
            return cls(adapter if manifest["kind"] == "full-model" else str(Path(adapter) / "hf"))
        return cls(resolve_base(manifest["base"]), adapter=adapter)

    def render(self, messages: Messages) -> str:
        tok = self.tokenizer
        return render(self.template, messages, bos_token=tok.bos_token or "", eos_token=tok.eos_token or "")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self,
        messages: Messages,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs = self.tokenizer(self.render(messages), return_tensors="pt", add_special_tokens=False)
        n = inputs["input_ids"].shape[1]
        check_context(n, max_tokens, self.context_window)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(
            **inputs,
            max_new_tokens=max_tokens,
            streamer=streamer,
            do_sample=temperature > 0,
            pad_token_id=self.tokenizer.eos_token_id,
        )
        if temperature > 0:
            kwargs["temperature"] = temperature
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        out = ""
        for piece in streamer:
            out += piece
            if stop and any(s in out for s in stop):
                yield piece.split(next(s for s in stop if s in out))[0]
                break
            yield piece
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}") from errors[0]
