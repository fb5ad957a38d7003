"""The checked answer as a stream: a sentence is shown only once it has passed the citation check.

``stream_answer`` yields ``Retrieved`` (the passages in the prompt), then one ``Sentence`` per
sentence that passed, then ``Done`` with the complete ``Answer``. The concatenated sentence texts
equal ``Answer.answer`` exactly (an abstention or an extractive quote arrives as one sentence).
Generation stops early when the model loops (``models.loops``) or opens with an abstention.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from collections.abc import Generator as PyGenerator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from industry_expert.config import AnswerSettings, RetrieveSettings
from industry_expert.errors import ExpertError
from industry_expert.generate import citations as cit
from industry_expert.generate.context import OnToken, prepare, prompt_budget, relevance_of
from industry_expert.generate.extractive import Extract, best_extract, extractive_text
from industry_expert.generate.prompts import NOT_COVERED, alone_messages
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import Generator, Messages, load_generator
from industry_expert.models.loops import LoopGuard, stop_loops
from industry_expert.models.profiles import apply_profile
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.store.base import Filters
from industry_expert.text import split_sentences
from industry_expert.types import Answer, Citation, Hit

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class Retrieved:
    """The passages put in the prompt, numbered 1..n as the answer cites them."""

    passages: list[Hit]
    query: str
    type: Literal["retrieved"] = "retrieved"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "query": self.query,
            "passages": [{"n": i, **p.to_dict()} for i, p in enumerate(self.passages, start=1)],
        }


@dataclass
class Sentence:
    """A sentence that passed the check: ``text`` is exactly what to append on screen."""

    text: str
    citations: list[int] = field(default_factory=list)
    type: Literal["sentence"] = "sentence"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Done:
    answer: Answer
    type: Literal["done"] = "done"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "answer": self.answer.to_dict()}


AnswerEvent = Retrieved | Sentence | Done

_ATTACH = re.compile(r"([.!?;])\s*((?:\[\d+(?:\s*,\s*\d+)*\]\s*)+)")
_BRACKETS = re.compile(r"\[[^\]]*\]?")
_TERMINAL = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")


def _attach(text: str) -> str:
    """'... 24 months. [1] The ...' -> '... 24 months [1]. The ...': a marker written after the
    full stop belongs to the sentence before it."""
    return _ATTACH.sub(lambda m: f" {' '.join(m.group(2).split())}{m.group(1)} ", text)


class SentenceSplitter:
    """Cuts streamed text into sentences as soon as each is complete (the next one has begun)."""

    def __init__(self) -> None:
        self.text = ""
        self.done = 0
        self.segments: list[str] = []  # what ``finish`` returned

    def feed(self, piece: str) -> list[str]:
        self.text += piece
        segments = split_sentences(_attach(self.text))
        if len(segments) < 2 or not re.search(r"\w", _BRACKETS.sub("", segments[-1])):
            return []
        out = segments[self.done : -1]
        self.done = len(segments) - 1
        return [x.strip() for x in out]

    def finish(self) -> list[str]:
        """The rest, once generation has ended."""
        segments = split_sentences(_attach(self.text))
        out = segments[self.done :]
        self.done = len(segments)
        self.segments = [x.strip() for x in out]
        return self.segments


class Checker:
    """Checks sentences one by one against the passages; repeats and abstentions are not shown."""

    def __init__(
        self, passages: list[str], threshold: float, question: str = "", headers: list[str] | None = None
    ) -> None:
        self.passages, self.threshold, self.question = passages, threshold, question
        self.headers = headers
        self.kept: list[cit.CheckedSentence] = []
        self.unsupported: list[str] = []
        self.shown = ""
        self.abstained_first = False

    def take(self, segment: str) -> list[Sentence]:
        out = []
        for x in cit.check(segment, self.passages, self.threshold, self.question, self.headers):
            if not x.supported and cit.is_abstention(x.text):
                self.abstained_first = self.abstained_first or not self.kept
                continue
            if not x.supported:
                self.unsupported.append(x.text)
            elif x.text.lower() not in {k.text.lower() for k in self.kept}:
                self.kept.append(x)
                marks = x.kept + x.inferred
                text = (" " if self.shown else "") + x.text + " " + "".join(f"[{n}]" for n in marks)
                self.shown += text
                out.append(Sentence(text, marks))
        return out

    def citations(self, used: list[Hit]) -> list[Citation]:
        by_n: dict[int, list[cit.CheckedSentence]] = {}
        for x in self.kept:
            for n in x.kept + x.inferred:
                by_n.setdefault(n, []).append(x)
        return [
            Citation(
                n,
                used[n - 1].source,
                used[n - 1].section,
                used[n - 1].page,
                cit.best_quote(used[n - 1].text, [x.text for x in xs]),
                round(max(x.score[n] for x in xs), 3),
                inferred=all(n in x.inferred for x in xs),
            )
            for n, xs in sorted(by_n.items())
        ]


@dataclass
class _Run:
    """Raw generation state shared between the streaming loop and the final answer."""

    raw: str = ""
    stopped: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def _generate(
    gen: Generator, messages: Messages, s: AnswerSettings, run: _Run, on_token: OnToken | None
) -> PyGenerator[str, None, None]:
    """The model's pieces, with timings, cut short when the text loops."""
    t0 = time.perf_counter()
    guard = LoopGuard()
    pieces = gen.stream(messages, max_tokens=s.max_tokens, temperature=s.temperature)
    try:
        for piece in stop_loops(pieces, guard) if s.stop_loops else pieces:
            if not run.raw:
                run.timings["ttft_s"] = time.perf_counter() - t0
            run.raw += piece
            if on_token:
                on_token(piece)
            yield piece
    finally:
        pieces.close() if hasattr(pieces, "close") else None
        if guard.looped:
            run.stopped = "loop"
        t = run.timings
        t["generate_s"] = time.perf_counter() - t0
        t["completion_tokens"] = float(gen.count_tokens(run.raw)) if run.raw else 0.0
        gen_s = t["generate_s"] - t.get("ttft_s", 0.0)
        t["tokens_per_s"] = (t["completion_tokens"] - 1) / gen_s if gen_s > 0 else 0.0


def _checked_sentences(
    question: str,
    gen: Generator,
    messages: Messages,
    used: list[Hit],
    s: AnswerSettings,
    run: _Run,
    on_token: OnToken | None,
) -> Iterator[Sentence | Checker]:
    """Checked sentences as they complete; the ``Checker`` itself last (for the final answer)."""
    checker = Checker([h.text for h in used], s.support_threshold, question, [h.section for h in used])
    splitter = SentenceSplitter()
    pieces = _generate(gen, messages, s, run, on_token)
    for piece in pieces:
        for segment in splitter.feed(piece):
            yield from checker.take(segment)
        if checker.abstained_first:
            run.stopped = "abstention"
            pieces.close()
            break
    rest = _complete(splitter.finish(), run, s)
    if len(rest) < len(splitter.segments):
        checker.unsupported.append(" ".join(splitter.segments[-1].split()))  # looped or cut off
    for segment in rest:
        yield from checker.take(segment)
    yield checker


def _complete(rest: list[str], run: _Run, s: AnswerSettings) -> list[str]:
    """The last sentences once generation has ended, without one that looped or that the token
    limit cut off mid-sentence (``run.stopped`` says which)."""
    if not rest:
        return rest
    if run.stopped == "loop":
        return rest[:-1]
    if _reached_limit(run, s) and not _TERMINAL.search(rest[-1]):
        run.stopped = "length"
        return rest[:-1]
    return rest


def _reached_limit(run: _Run, s: AnswerSettings) -> bool:
    return run.timings.get("completion_tokens", 0) >= s.max_tokens - 1


def stream_from_passages(
    question: str,
    hits: list[Hit],
    gen: Generator,
    s: AnswerSettings,
    relevance: float = 1.0,
    embed: Embed | None = None,
    timings: dict[str, float] | None = None,
    on_token: OnToken | None = None,
) -> Iterator[AnswerEvent]:
    """Answer from retrieved ``hits`` (best first): prompt, generate, check, fall back, finish.
    The model's profile (``models.profiles``) supplies the check's settings ``s`` leaves unset."""
    s = apply_profile(s, gen.id)
    run = _Run(timings=timings if timings is not None else {})
    used, messages, prompt = prepare(gen, question, hits, s)
    run.timings["prompt_tokens"] = float(gen.count_tokens(prompt))
    yield Retrieved(used, question)
    answer = Answer(question, NOT_COVERED, [], used, prompt, gen.id, run.timings, abstained=True)
    if used and relevance >= s.min_relevance:
        checker = None
        for item in _checked_sentences(question, gen, messages, used, s, run, on_token):
            if isinstance(item, Checker):
                checker = item
            else:
                yield item
        assert checker is not None
        answer.raw_answer, answer.stopped = run.raw.strip(), run.stopped
        answer.unsupported, answer.supported = checker.unsupported, len(checker.kept)
        if checker.kept:
            answer.answer, answer.abstained = checker.shown, False
            answer.citations = checker.citations(used)
        elif s.extractive_fallback and embed is not None:
            found = best_extract(question, used, embed)
            if found is not None and found.score >= s.extractive_threshold:
                _use_extract(answer, found, used)
    if answer.abstained or answer.extractive:
        yield Sentence(answer.answer, [c.n for c in answer.citations])
    yield Done(answer)


def _use_extract(answer: Answer, found: Extract, used: list[Hit]) -> None:
    hit = used[found.n - 1]
    answer.answer, answer.abstained, answer.extractive = extractive_text(found), False, True
    answer.citations = [
        Citation(found.n, hit.source, hit.section, hit.page, found.quote, round(found.score, 3))
    ]


def _alone(
    question: str, gen: Generator, s: AnswerSettings, timings: dict[str, float], on_token: OnToken | None
) -> Iterator[AnswerEvent]:
    """The model alone: sentences are shown as they complete (nothing to check them against)."""
    run = _Run(timings=timings)
    messages = alone_messages(question, s.sentences)
    prompt = gen.render(messages)
    run.timings["prompt_tokens"] = float(gen.count_tokens(prompt))
    splitter, shown = SentenceSplitter(), ""
    for piece in _generate(gen, messages, s, run, on_token):
        for segment in splitter.feed(piece):
            text = (" " if shown else "") + " ".join(segment.split())
            shown += text
            yield Sentence(text)
    rest = splitter.finish()  # a sentence cut by the token limit stays: it is the model's own
    if run.stopped != "loop" and _reached_limit(run, s):
        run.stopped = "length"
    for segment in rest[:-1] if run.stopped == "loop" else rest:
        text = (" " if shown else "") + " ".join(segment.split())
        shown += text
        yield Sentence(text)
    answer = Answer(question, shown, [], [], prompt, gen.id, timings, raw_answer=run.raw.strip())
    answer.abstained, answer.stopped, answer.query = (
        cit.is_abstention(shown) or not shown,
        run.stopped,
        question,
    )
    yield Done(answer)


class QuestionTooLong(ExpertError):
    """The question is over ``answer.max_question_chars`` or its token limit (a client error)."""


def question_token_limit(gen: Generator, s: AnswerSettings) -> tuple[int, str]:
    """The most tokens a question may take, and the settings that set it: ``max_question_tokens``,
    or half the prompt budget (as ``context.prepare`` computes it) when that is less."""
    budget = prompt_budget(gen, s)
    if budget // 2 >= s.max_question_tokens:
        return s.max_question_tokens, "setting answer.max_question_tokens"
    return max(budget // 2, 1), "half the prompt budget: settings answer.context_tokens, answer.max_tokens"


def check_question_tokens(question: str, gen: Generator, s: AnswerSettings) -> None:
    """Refuse a question longer, in the generator's own tokens, than ``question_token_limit``:
    it would crowd the passages out of the prompt and be answered "not covered"."""
    limit, why = question_token_limit(gen, s)
    n = gen.count_tokens(question)
    if n > limit:
        raise QuestionTooLong(f"question too long ({n:,} tokens; at most {limit:,}, {why})")


def stream_answer(
    question: str,
    kb: str | os.PathLike[str] | KnowledgeBase | None = None,
    model: str | Generator | None = None,
    adapter: str | None = None,
    settings: AnswerSettings | None = None,
    filters: Filters | None = None,
    query: str | None = None,
    on_token: OnToken | None = None,
    retrieval: RetrieveSettings | None = None,
) -> Iterator[AnswerEvent]:
    """Answer from the KB's passages (or the model alone when ``kb`` is None), as events.
    ``query``: the retrieval query when it differs from the question (a rewritten follow-up);
    ``on_token`` sees the model's raw text as it comes (unchecked: for logs and tests)."""
    s = settings or AnswerSettings()
    if len(question) > s.max_question_chars:
        raise QuestionTooLong(
            f"question too long ({len(question):,} characters; at most {s.max_question_chars:,}, "
            "setting answer.max_question_chars)"
        )
    t0 = time.perf_counter()
    gen = load_generator(model or s.model, adapter) if model is None or isinstance(model, str) else model
    s = apply_profile(s, gen.id)  # before retrieval: the profile may set k
    timings: dict[str, float] = {"load_s": time.perf_counter() - t0}
    check_question_tokens(question, gen, s)
    if kb is None:
        events = _alone(question, gen, s, timings, on_token)
    else:
        where = (kb, filters, retrieval or RetrieveSettings())
        events = _from_kb(question, where, gen, s, query or question, timings, on_token)
    for event in events:
        if isinstance(event, Done):
            event.answer.query = event.answer.query or query or question
            timings["total_s"] = time.perf_counter() - t0
        yield event


def _from_kb(
    question: str,
    where: tuple[str | os.PathLike[str] | KnowledgeBase, Filters | None, RetrieveSettings],
    gen: Generator,
    s: AnswerSettings,
    query: str,
    timings: dict[str, float],
    on_token: OnToken | None,
) -> Iterator[AnswerEvent]:
    kb, filters, rs = where
    opened = kb if isinstance(kb, KnowledgeBase) else KnowledgeBase.open(kb)
    try:
        t1 = time.perf_counter()
        qvec = opened.embed([query])[0]  # embedded once, for retrieval and relevance
        hits = retrieve(opened, query, k=s.k, filters=filters, settings=rs, query_vector=qvec)
        relevance = relevance_of(opened, qvec, hits)
        timings["retrieve_s"] = time.perf_counter() - t1
        for event in stream_from_passages(question, hits, gen, s, relevance, opened.embed, timings, on_token):
            if isinstance(event, Retrieved):
                event.query = query
            yield event
    finally:
        if opened is not kb:
            opened.close()
