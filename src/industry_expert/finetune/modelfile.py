"""An Ollama ``Modelfile`` for an exported GGUF: the model's own chat template, translated from
Jinja to Ollama's Go template, and its stop tokens; plus the commands that serve the GGUF.

The translation reads the template's pieces off renderings with placeholder messages (what comes
before and after a user, assistant and system message, and the generation prompt) and checks that
those pieces rebuild the Jinja rendering of a whole conversation exactly; a template they cannot
rebuild (dates, tool calls, per-position logic) gets no TEMPLATE line, and Ollama falls back to the
template stored in the GGUF's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from industry_expert.errors import ModelError
from industry_expert.models.templates import render

_MARK = {"system": "\u00a7S\u00a7", "user": "\u00a7U\u00a7", "assistant": "\u00a7A\u00a7"}


@dataclass
class ChatPieces:
    """Literal text around each role's content, and the generation prompt."""

    around: dict[str, tuple[str, str]]
    generation: str

    def rebuild(self, messages: list[dict[str, str]]) -> str:
        """The prompt these pieces give for ``messages`` followed by the generation prompt."""
        parts = []
        for m in messages:
            before, after = self.around[m["role"]]
            parts.append(before + m["content"] + after)
        return "".join(parts) + self.generation

    def go_template(self) -> str:
        """The same pieces as an Ollama (Go) template over ``.Messages``, on one line: Go's ``{{-``
        would trim newlines that belong to the prompt."""
        out = ["{{ range .Messages }}"]
        for i, (role, (before, after)) in enumerate(self.around.items()):
            keyword = "if" if i == 0 else "else if"
            out.append(f'{{{{ {keyword} eq .Role "{role}" }}}}{before}{{{{ .Content }}}}{after}')
        return "".join(out) + "{{ end }}{{ end }}" + self.generation


def _split(text: str, mark: str) -> tuple[str, str]:
    if text.count(mark) != 1:
        raise ModelError("chat template: a message's content is not rendered exactly once")
    before, after = text.split(mark)
    return before, after


def _common_prefix(a: str, b: str) -> str:
    """The shared start of two tails, cut back to a whole piece (after a newline or a ``>``, or
    one tail entire), so ``<|end|>\n<|`` becomes ``<|end|>\n``."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    while n and n not in (len(a), len(b)) and a[n - 1] not in "\n>":
        n -= 1
    return a[:n]


def chat_pieces(template: str, bos: str, eos: str) -> ChatPieces:
    """Read the pieces off renderings; ModelError when they do not rebuild a whole conversation."""

    def show(msgs: list[tuple[str, str]], gen: bool) -> str:
        text = render(
            template, [{"role": r, "content": c} for r, c in msgs], bos, eos, add_generation_prompt=gen
        )
        return text[len(bos) :] if bos and text.startswith(bos) else text

    u, a = _MARK["user"], _MARK["assistant"]
    user_before, tail_plain = _split(show([("user", u)], False), u)
    _, tail_gen = _split(show([("user", u)], True), u)
    user_after = _common_prefix(tail_plain, tail_gen)
    generation = tail_gen[len(user_after) :]
    middle = show([("user", u), ("assistant", a), ("user", u + "2")], True)
    between = middle.split(u, 1)[1].split(a)[0][len(user_after) :]
    after_a = middle.split(a)[1].split(u + "2")[0]
    if not after_a.endswith(user_before):
        raise ModelError("chat template: cannot find where an assistant message ends")
    around = {
        "user": (user_before, user_after),
        "assistant": (between, after_a[: len(after_a) - len(user_before)]),
    }
    try:
        sys_mark, user_tail = _MARK["system"], user_before + u + tail_gen
        sys_before, rest = _split(show([("system", sys_mark), ("user", u)], True), sys_mark)
        if rest.endswith(user_tail):
            around = {"system": (sys_before, rest[: len(rest) - len(user_tail)]), **around}
    except ModelError:
        pass  # no system role (or one folded into the user turn): Ollama then sends none
    pieces = ChatPieces(around, generation)
    _check(pieces, template, bos, eos)
    return pieces


def _check(pieces: ChatPieces, template: str, bos: str, eos: str) -> None:
    convo = [
        {"role": "user", "content": "What is the Blue Flush?"},
        {"role": "assistant", "content": "A 25 minute rinse."},
        {"role": "user", "content": "And the T-check?"},
    ]
    if "system" in pieces.around:
        convo.insert(0, {"role": "system", "content": "Answer from the manuals."})
    want = render(template, convo, bos, eos, add_generation_prompt=True)
    want = want[len(bos) :] if bos and want.startswith(bos) else want
    if pieces.rebuild(convo) != want:
        raise ModelError("chat template: its pieces do not rebuild a whole conversation")


def stop_tokens(tokenizer: object, template: str) -> list[str]:
    from industry_expert.finetune.encode import end_of_turn

    found = [end_of_turn(tokenizer, template), getattr(tokenizer, "eos_token", None) or ""]
    return list(dict.fromkeys(t for t in found if t.strip()))


def modelfile_text(gguf: Path, template: str, bos: str, eos: str, stops: list[str]) -> str:
    lines = ["# Ollama Modelfile written by 'expert finetune merge --gguf'", f"FROM ./{gguf.name}"]
    try:
        go = chat_pieces(template, bos, eos).go_template()
        if '"""' in go:
            raise ModelError('chat template contains """')
        lines.append(f'TEMPLATE """{go}"""')
    except ModelError as exc:
        lines.append(f"# no TEMPLATE: {exc}; Ollama uses the template stored in the GGUF")
    lines += ["PARAMETER stop " + '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in stops]
    return "\n".join(lines) + "\n"


def write_modelfile(out: Path, gguf: Path, tokenizer: object, template: str) -> Path:
    bos, eos = getattr(tokenizer, "bos_token", None) or "", getattr(tokenizer, "eos_token", None) or ""
    path = out / "Modelfile"
    path.write_text(
        modelfile_text(gguf, template, bos, eos, stop_tokens(tokenizer, template)), encoding="utf-8"
    )
    return path


def serve_commands(gguf: Path, modelfile: Path, name: str) -> list[str]:
    """How to serve the export: llama.cpp's OpenAI-compatible server, and Ollama."""
    return [
        f"python -m llama_cpp.server --model {gguf} --host 127.0.0.1 --port 8000",
        f"llama-server -m {gguf} --host 127.0.0.1 --port 8080",
        f"ollama create {name} -f {modelfile} && ollama run {name}",
    ]
