"""Hugging Face transformers backend: a model id or local path, optionally with a PEFT adapter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from pydantic import ConfigDict, Field

from industry_expert.errors import ModelError
from industry_expert.models.base import Messages, check_context
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE
from industry_expert.models.threads import pin_torch
from industry_expert.schema import Record


class AdapterConfig(Record):
    """The fields of a PEFT ``adapter_config.json`` this tool relies on (others pass through)."""

    model_config = ConfigDict(strict=True, extra="allow")
    peft_type: str
    r: int = Field(1, ge=1)
    target_modules: list[str] | str | None = None


class HFGenerator:
    def __init__(self, name_or_path: str, adapter: str | None = None, model=None, tokenizer=None) -> None:  # type: ignore[no-untyped-def]
        pin_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        has_own = adapter and (Path(adapter) / "tokenizer_config.json").is_file()
        folder = Path(name_or_path)
        if model is None and folder.is_dir() and not (folder / "config.json").is_file():
            raise ModelError(f"{name_or_path}: not a Hugging Face model folder (no config.json)")
        try:
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(adapter if has_own else name_or_path)
            self.model = model or AutoModelForCausalLM.from_pretrained(name_or_path)
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load Hugging Face model '{name_or_path}': {first}") from exc
        if adapter:
            self.model = _with_adapter(self.model, adapter)
        self.model.eval()
        model_type = getattr(self.model.config, "model_type", "")
        template = self.tokenizer.chat_template or FALLBACK_BY_ARCHITECTURE.get(model_type)
        if not template:
            raise ModelError(f"'{name_or_path}' has no chat template (a base model?)")
        self.template: str = template
        """The tokenizer's own template, or the architecture's fallback when it ships none."""
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.id = f"hf:{name_or_path}" + (f"+adapter:{Path(adapter).name}" if adapter else "")

    @classmethod
    def from_adapter(cls, adapter: str) -> HFGenerator:
        """An adapter (or full fine-tuned model) made by ``expert finetune``, on its own base."""
        from industry_expert.artifacts import adapter_manifest
        from industry_expert.models.checkpoints import resolve_base

        manifest = adapter_manifest(adapter)
        if manifest["kind"] in ("full-model", "merged-model"):
            return cls(adapter if manifest["kind"] == "full-model" else str(Path(adapter) / "hf"))
        return cls(resolve_base(manifest["base"]), adapter=adapter)

    def render(self, messages: Messages) -> str:
        """The prompt exactly as the tokenizer's own ``apply_chat_template`` renders it."""
        from jinja2 import TemplateError

        try:
            return str(
                self.tokenizer.apply_chat_template(
                    messages, chat_template=self.template, tokenize=False, add_generation_prompt=True
                )
            )
        except TemplateError as exc:
            raise ModelError(f"the chat template failed: {exc}") from exc

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
        halt = threading.Event()  # set when the consumer stops reading (a stop string, a loop)
        kwargs["stopping_criteria"] = [lambda ids, scores, **_: torch.full((ids.shape[0],), halt.is_set())]
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
        try:
            for piece in streamer:
                out += piece
                if stop and any(s in out for s in stop):
                    yield piece.split(next(s for s in stop if s in out))[0]
                    break
                yield piece
        finally:
            halt.set()
            thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}") from errors[0]


def _with_adapter(model, adapter: str):  # type: ignore[no-untyped-def]
    """The PEFT adapter in ``adapter`` applied to ``model``; its adapter_config.json is checked
    first so a damaged one is one line naming the file and field, not a traceback."""
    from peft import PeftModel

    from industry_expert.io import read_json_object
    from industry_expert.schema import validate

    path = Path(adapter) / "adapter_config.json"
    validate(AdapterConfig, read_json_object(path, ModelError), str(path), ModelError)
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{adapter}: cannot apply this adapter: {first}") from exc
