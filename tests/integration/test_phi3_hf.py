"""The Phi-3 code path through the transformers backend, on a tiny random Phi3ForCausalLM."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.generate.grounded import AskSettings, ask
from industry_expert.models.generators import load_generator
from industry_expert.models.hf import HFGenerator
from industry_expert.models.templates import PHI3_CHAT_TEMPLATE

pytestmark = pytest.mark.slow
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is a T-check?"},
    {"role": "assistant", "content": "A torque check."},
    {"role": "user", "content": "When?"},
]
EXPECTED = (
    "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is a T-check?<|end|>\n"
    "<|assistant|>\nA torque check.<|end|>\n<|user|>\nWhen?<|end|>\n<|assistant|>\n"
)


def test_phi3_prompt_format_is_exact(tiny_phi3: Path) -> None:
    gen = load_generator(f"hf:{tiny_phi3}")
    assert isinstance(gen, HFGenerator) and gen.model.config.model_type == "phi3"
    assert gen.tokenizer.chat_template is None and gen.template == PHI3_CHAT_TEMPLATE
    assert gen.render(MESSAGES) == EXPECTED
    ids = gen.tokenizer(gen.render(MESSAGES), add_special_tokens=False)["input_ids"]
    specials = {gen.tokenizer.convert_tokens_to_ids(t) for t in ("<|user|>", "<|end|>", "<|assistant|>")}
    assert specials <= set(ids)  # the markers are single special tokens, not split text
    # the same template set on the tokenizer renders identically through transformers itself
    gen.tokenizer.chat_template = PHI3_CHAT_TEMPLATE
    assert gen.tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True) == EXPECTED


def test_phi3_generates_and_answers_through_the_pipeline(tiny_phi3: Path, sample_kb: Path) -> None:
    gen = load_generator(f"hf:{tiny_phi3}")
    out = "".join(gen.stream(MESSAGES, max_tokens=5))
    assert isinstance(out, str)
    a = ask("What is a T-check?", sample_kb, gen, settings=AskSettings(k=2, max_tokens=8))
    assert a.prompt.startswith("<|system|>\nYou are an expert assistant") and a.prompt.endswith(
        "<|assistant|>\n"
    )
    assert a.model == f"hf:{tiny_phi3}"
