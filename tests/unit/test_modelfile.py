"""The Ollama Modelfile written next to an exported GGUF: the Jinja chat template as an Ollama Go
template that gives the same prompt, and the stop tokens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from industry_expert.errors import ModelError
from industry_expert.finetune.modelfile import chat_pieces, modelfile_text, serve_commands
from industry_expert.models.templates import CHATML_TEMPLATE, PHI3_CHAT_TEMPLATE, render

CONVO = [
    {"role": "system", "content": "Answer from the manuals."},
    {"role": "user", "content": "What is the Blue Flush?"},
    {"role": "assistant", "content": "A 25 minute rinse."},
    {"role": "user", "content": "And the T-check?"},
]


def run_go_template(go: str, messages: list[dict[str, str]]) -> str:
    """Expand exactly the Go template shape modelfile.py writes (range over messages, one branch
    per role, then the generation prompt) - enough to check it against the Jinja rendering."""
    body, generation = re.fullmatch(
        r"\{\{ range \.Messages \}\}(.*)\{\{ end \}\}\{\{ end \}\}(.*)", go, re.S
    ).groups()
    branch = re.compile(
        r'\{\{ (?:else )?if eq \.Role "(\w+)" \}\}(.*?)\{\{ \.Content \}\}(.*?)(?=\{\{ else if|\Z)', re.S
    )
    around = {role: (before, after) for role, before, after in branch.findall(body)}
    return "".join(around[m["role"]][0] + m["content"] + around[m["role"]][1] for m in messages) + generation


@pytest.mark.parametrize(
    ("template", "bos", "eos"),
    [(PHI3_CHAT_TEMPLATE, "<s>", "<|endoftext|>"), (CHATML_TEMPLATE, "", "<|im_end|>")],
)
def test_go_template_gives_the_jinja_prompt(template: str, bos: str, eos: str) -> None:
    go = chat_pieces(template, bos, eos).go_template()
    for n in (2, 4):  # with and without a system message
        msgs = CONVO[-n + 1 :] if n == 2 else CONVO
        want = render(template, msgs, bos, eos, add_generation_prompt=True).removeprefix(bos)
        assert run_go_template(go, msgs) == want


def test_phi3_modelfile() -> None:
    text = modelfile_text(
        Path("out/model-q4_k_m.gguf"),
        PHI3_CHAT_TEMPLATE,
        "<s>",
        "<|endoftext|>",
        ["<|end|>", "<|endoftext|>"],
    )
    assert "FROM ./model-q4_k_m.gguf\n" in text
    assert (
        'TEMPLATE """{{ range .Messages }}{{ if eq .Role "system" }}<|system|>\n{{ .Content }}<|end|>\n'
        '{{ else if eq .Role "user" }}<|user|>\n{{ .Content }}<|end|>\n'
        '{{ else if eq .Role "assistant" }}<|assistant|>\n{{ .Content }}<|end|>\n'
        '{{ end }}{{ end }}<|assistant|>\n"""'
    ) in text
    assert text.endswith('PARAMETER stop "<|end|>"\nPARAMETER stop "<|endoftext|>"\n')


def test_a_template_the_pieces_cannot_express_gets_no_template_line() -> None:
    numbered = "{% for m in messages %}{{ loop.index }}. {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ModelError, match="chat template"):
        chat_pieces(numbered, "", "")
    text = modelfile_text(Path("m.gguf"), numbered, "", "", [])
    assert "TEMPLATE" not in text.replace("# no TEMPLATE", "") and "# no TEMPLATE" in text


def test_serve_commands_name_the_files() -> None:
    cmds = serve_commands(Path("exp/model-q4_k_m.gguf"), Path("exp/Modelfile"), "kestrel")
    assert any(c.startswith("python -m llama_cpp.server --model exp/model-q4_k_m.gguf") for c in cmds)
    assert "ollama create kestrel -f exp/Modelfile && ollama run kestrel" in cmds
