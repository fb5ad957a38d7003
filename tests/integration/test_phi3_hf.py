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


def _greedy(gen: HFGenerator, prompt: str, max_tokens: int) -> tuple[str, int]:
    """What transformers itself generates greedily from ``prompt``: (text, new token count)."""
    import torch

    ids = gen.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = gen.model.generate(
            **ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=gen.tokenizer.eos_token_id
        )
    new = out[0, ids["input_ids"].shape[1] :]
    return gen.tokenizer.decode(new, skip_special_tokens=True), len(new)


def test_phi3_generates_and_answers_through_the_pipeline(tiny_phi3: Path, sample_kb: Path) -> None:
    from industry_expert.generate.prompts import NOT_COVERED

    gen = load_generator(f"hf:{tiny_phi3}")
    assert isinstance(gen, HFGenerator)
    out = "".join(gen.stream(MESSAGES, max_tokens=5))
    want, n_new = _greedy(gen, EXPECTED, 5)
    assert out == want and want.strip() and 1 <= n_new <= 5  # the stream is transformers' own greedy output
    a = ask("What is a T-check?", sample_kb, gen, settings=AskSettings(k=2, max_tokens=8))
    assert a.prompt.startswith("<|system|>\nYou are an expert assistant") and a.prompt.endswith(
        "<|assistant|>\n"
    )
    assert a.model == f"hf:{tiny_phi3}" and 1 <= len(a.passages) <= 2 and '<passage id="1"' in a.prompt
    assert "T-check" in a.passages[0].text + a.passages[0].section  # retrieval found the glossary entry
    # the model ran on exactly the rendered prompt; its random text is not supported by any passage,
    # so none of it is delivered: the answer is a checked quote of a passage, or the abstention
    assert a.raw_answer == _greedy(gen, a.prompt, 8)[0].strip() and a.raw_answer
    assert a.supported == 0 and a.raw_answer not in a.answer
    if a.extractive:
        assert a.citations and all(c.quote in a.passages[c.n - 1].text for c in a.citations)
    else:
        assert a.abstained and a.answer == NOT_COVERED and a.citations == []
