"""The Generator Protocol every chat backend implements (one module per backend beside this one;
``generators.py`` chooses among them by ``--model`` spec)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from industry_expert.errors import ModelError

Messages = list[dict[str, str]]


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
