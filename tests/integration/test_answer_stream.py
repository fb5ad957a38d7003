"""The checked answer streamed with the real bundled SmolLM2 over the real sample KB: only passing
sentences are shown, loops are cut in every backend (the CLI screen = JSON check is in
test_answers.py::test_cli_ask_json_and_stream)."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.config import AnswerSettings
from industry_expert.generate.citations import check
from industry_expert.generate.stream import Done, Retrieved, Sentence, stream_answer
from industry_expert.models.generators import Generator, load_generator
from industry_expert.models.profiles import apply_profile
from industry_expert.testing.llama_server import llama_server

pytestmark = pytest.mark.slow
FAST = AnswerSettings(k=4, max_tokens=80, context_tokens=1024)
LOOPING = "Write a very long list of pump parts."  # SmolLM2 counts "5. Pump pump pump pump" forever


@pytest.fixture(scope="module")
def gen() -> Generator:
    return load_generator()


WARRANTY = "How long is the standard warranty on a Kestrel pump?"


@pytest.mark.parametrize(
    ("question", "max_tokens"),
    [
        (WARRANTY, 80),
        # SmolLM2's own answer here fails the check (a wrong number): nothing of it may be shown
        ("What supply voltage does the FS-3 need to drop below before it complains about the 24 V "
         "control supply?", 80),
        (WARRANTY, 12),  # the token limit cuts the sentence: a cut sentence is never shown
    ],
)  # fmt: skip
def test_stream_shows_only_checked_sentences(
    sample_kb: Path, gen: Generator, question: str, max_tokens: int
) -> None:
    raw: list[str] = []
    s = FAST.model_copy(update={"max_tokens": max_tokens})
    events = list(stream_answer(question, sample_kb, gen, settings=s, on_token=raw.append))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], Done)
    a = events[-1].answer
    sentences = [e for e in events if isinstance(e, Sentence)]
    shown = "".join(e.text for e in sentences)
    assert shown == a.answer and sentences
    assert "".join(raw).strip() == a.raw_answer
    assert events[0].passages == a.passages
    for dropped in a.unsupported:
        assert dropped not in shown
    if max_tokens == 12:
        assert a.stopped == "length" and a.unsupported and a.unsupported[-1] in " ".join(a.raw_answer.split())
    if a.extractive:
        c = a.citations[0]
        assert shown == f"The passage says: '{c.quote}' [{c.n}]" and c.quote in a.passages[c.n - 1].text
    elif not a.abstained:
        threshold = apply_profile(s, gen.id).support_threshold  # the model's profile, unless set
        checked = check(shown, [h.text for h in a.passages], threshold, question)
        assert checked and all(x.supported for x in checked)
        assert all(e.text.rstrip(" []0123456789").endswith((".", "!", "?")) for e in sentences)
        assert {n for e in sentences for n in e.citations} == {c.n for c in a.citations}
    else:
        assert len(sentences) == 1 and not a.citations


def test_the_models_profile_sets_how_many_passages_are_retrieved(gen: Generator, sample_kb: Path) -> None:
    """No k given: the catalogue model's profile (k=4) holds for retrieval too, not only the check;
    a k the user gives wins."""
    room = {"max_tokens": 8, "context_tokens": 4000}  # every retrieved passage fits the prompt
    first = next(iter(stream_answer(WARRANTY, sample_kb, gen, settings=AnswerSettings(**room))))
    assert isinstance(first, Retrieved) and len(first.passages) == 4
    first = next(iter(stream_answer(WARRANTY, sample_kb, gen, settings=AnswerSettings(k=6, **room))))
    assert isinstance(first, Retrieved) and len(first.passages) == 6


def test_generation_stops_when_the_model_loops(gen: Generator) -> None:
    """llama.cpp: the counting loop is cut long before max_tokens; the looping line is not shown."""
    a = list(stream_answer(LOOPING, None, gen, settings=AnswerSettings(max_tokens=300)))[-1].answer
    assert a.stopped == "loop" and a.timings["completion_tokens"] < 100
    assert a.raw_answer.startswith(a.answer.split(" ")[0]) and len(a.answer) < len(a.raw_answer)
    off = list(stream_answer(LOOPING, None, gen, settings=AnswerSettings(max_tokens=160, stop_loops=False)))
    assert off[-1].answer.stopped == "length" and off[-1].answer.timings["completion_tokens"] >= 159


def test_loop_stops_an_openai_compatible_server_stream() -> None:
    """A real llama.cpp server over HTTP: the client stops reading, the stream is closed."""
    with llama_server() as url:
        remote = load_generator(f"openai:smollm2@{url}")
        a = list(stream_answer(LOOPING, None, remote, settings=AnswerSettings(max_tokens=300)))[-1].answer
    assert a.stopped == "loop" and a.timings["completion_tokens"] < 150


def test_transformers_generation_halts_when_the_reader_stops(tiny_phi3: Path) -> None:
    """transformers generates in a thread: closing the stream must stop it, not run on to max."""
    from industry_expert.models.hf import HFGenerator

    g = HFGenerator(str(tiny_phi3))
    steps: list[int] = []
    g.model.register_forward_hook(lambda *_: steps.append(1))
    pieces = g.stream([{"role": "user", "content": "What is the pump?"}], max_tokens=200)
    for _ in range(3):
        next(pieces)
    pieces.close()
    done = len(steps)
    assert done < 40, f"{done} forward passes after the reader stopped at 3 pieces"
    assert len(steps) == done  # nothing runs on in the background
