"""Chat templates we must get exactly right when a model file does not carry its own."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from industry_expert.errors import ModelError

PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
"""Phi-3 (mini/small/medium, 4k and 128k instruct): ``<|user|>\\n...<|end|>\\n<|assistant|>\\n``."""

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

FALLBACK_BY_ARCHITECTURE = {"phi3": PHI3_CHAT_TEMPLATE}
"""Templates used only when the model ships none, keyed by architecture / model_type."""


def render(
    template: str,
    messages: list[dict[str, str]],
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    **extra: object,
) -> str:
    """Render a Hugging Face style Jinja chat template the way ``transformers`` does: sandboxed,
    ``trim_blocks``/``lstrip_blocks``, the loop-controls extension (``{% break %}``,
    ``{% continue %}``), and the globals templates call: ``raise_exception(msg)``,
    ``strftime_now(fmt)`` (Llama 3.x puts today's date in its system header) and a ``tojson`` that
    keeps non-ASCII text. ``extra`` reaches the template as further variables (``tools``...).
    A template that refuses the messages (``raise_exception``) or fails raises ``ModelError``."""
    from jinja2 import TemplateError

    try:
        compiled = _compile(template)
        variables = {"tools": None, "documents": None, **extra}  # defined (as None), as transformers does
        return compiled.render(
            messages=messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
            **variables,
        )
    except TemplateError as exc:
        raise ModelError(f"the chat template failed: {exc}") from exc


@functools.lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    def tojson(
        x: object, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys=False
    ) -> str:  # type: ignore[no-untyped-def]
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    return env.from_string(template)
