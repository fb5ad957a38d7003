"""Chat templates: the GGUF path's own Jinja rendering provides what transformers provides to
templates, and the transformers backend renders with the tokenizer's ``apply_chat_template``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from industry_expert.errors import ModelError
from industry_expert.models.templates import render

# Llama 3.1 / 3.2 style: today's date from strftime_now, a system header, loop controls,
# raise_exception for roles it does not know, tojson for a tool list.
LLAMA3_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if not date_string is defined %}\n"
    '    {%- set date_string = strftime_now("%d %b %Y") %}\n'
    "{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    '    {%- set system_message = "" %}\n'
    "{%- endif %}\n"
    '{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n'
    '{{- "Cutting Knowledge Date: December 2023\\n" }}\n'
    '{{- "Today Date: " + date_string + "\\n\\n" }}\n'
    "{%- if tools is not none %}{{- tools | tojson }}{% endif %}\n"
    '{{- system_message + "<|eot_id|>" }}\n'
    "{%- for message in messages %}\n"
    "    {%- if message['role'] not in ['user', 'assistant'] %}\n"
    "        {{- raise_exception('Unknown role: ' + message['role']) }}\n"
    "    {%- endif %}\n"
    "    {%- if message['content'] == 'STOP' %}{% break %}{% endif %}\n"
    "    {%- if message['content'] == '' %}{% continue %}{% endif %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)
MESSAGES = [
    {"role": "system", "content": "Answer from the passages."},
    {"role": "user", "content": "How long is the warranty?"},
]


def _today() -> str:
    return datetime.now().strftime("%d %b %Y")


def test_llama3_template_gets_todays_date_from_strftime_now() -> None:
    before = _today()
    out = render(LLAMA3_TEMPLATE, MESSAGES, bos_token="<|begin_of_text|>")
    assert out in {  # the clock may tick past midnight between the two readings
        f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
        f"December 2023\nToday Date: {day}\n\nAnswer from the passages.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHow long is the warranty?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
        for day in {before, _today()}
    }
    pinned = render(LLAMA3_TEMPLATE, MESSAGES, date_string="26 Jul 2024")
    assert "Today Date: 26 Jul 2024\n" in pinned


def test_loop_controls_tojson_and_raise_exception() -> None:
    msgs = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "STOP"},
        {"role": "user", "content": "never rendered"},
    ]
    out = render(LLAMA3_TEMPLATE, msgs, tools=[{"name": "pumpe", "description": "Größe"}])
    assert "first" in out and "never rendered" not in out and "STOP" not in out
    assert "<|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|>" not in out  # continue skipped it
    assert '[{"name": "pumpe", "description": "Größe"}]' in out  # tojson keeps non-ASCII, like transformers
    with pytest.raises(ModelError, match="^the chat template failed: Unknown role: tool$"):
        render(LLAMA3_TEMPLATE, [{"role": "tool", "content": "x"}])


@pytest.mark.slow
def test_transformers_backend_uses_apply_chat_template(tmp_path: Path) -> None:
    """A tiny local model whose tokenizer carries the Llama-3-style template: the HF backend's
    prompt is the tokenizer's own rendering and equals the GGUF path's."""
    from transformers import AutoTokenizer

    from industry_expert.models.hf import HFGenerator
    from industry_expert.testing.tiny import build_tiny_phi3

    model_dir = build_tiny_phi3(tmp_path / "tiny", ["How long is the warranty? Answer from the passages."])
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = LLAMA3_TEMPLATE
    tok.save_pretrained(model_dir)
    gen = HFGenerator(str(model_dir))
    before = _today()
    prompt = gen.render(MESSAGES)
    expected = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert prompt == expected
    assert prompt in {
        render(LLAMA3_TEMPLATE, MESSAGES, bos_token="<s>", date_string=d) for d in {before, _today()}
    }
    assert f"Today Date: {before}" in prompt or f"Today Date: {_today()}" in prompt
    with pytest.raises(ModelError, match="Unknown role: tool"):
        gen.render([{"role": "tool", "content": "x"}])
