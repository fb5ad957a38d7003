"""Answering: retrieve -> fit passages into the context budget -> generate -> check citations."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from industry_expert.generate import citations as cit
from industry_expert.generate.prompts import NOT_COVERED, alone_messages, format_passage, rag_messages
from industry_expert.ingest.chunking import split_sentences
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import Generator, load_generator
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.store.base import Filters
from industry_expert.types import Answer, Citation, Hit

OnToken = Callable[[str], None]


@dataclass
class AskSettings:
    """How answers are produced and checked."""

    k: int = 5
    """Passages retrieved (fewer are used when the context budget is smaller)."""
    max_tokens: int = 160
    """Answer length cap, in tokens."""
    sentences: int = 3
    """Answer length asked of the model, in sentences."""
    min_relevance: float = 0.25
    """Abstain without calling the model when no passage reaches this cosine similarity."""
    support_threshold: float = 0.6
    """A citation stands when this share of the sentence's content words is in the passage."""
    temperature: float = 0.0
    context_tokens: int | None = None
    """Cap on the prompt size in tokens (default: the model's context window). Small CPU models
    answer faster, and often better, from a shorter prompt."""

    def __post_init__(self) -> None:
        from industry_expert.errors import ConfigError

        if self.k < 1 or self.max_tokens < 8 or self.sentences < 1:
            raise ConfigError("ask: k >= 1, max_tokens >= 8 and sentences >= 1 are required")
        if not 0 <= self.support_threshold <= 1:
            raise ConfigError("ask.support_threshold must be in [0, 1]")


def fit_passages(gen: Generator, question: str, hits: list[Hit], budget: int) -> list[str]:
    """Formatted passages, best first, as many as fit in ``budget`` tokens; the last one that does
    not fit whole is cut at sentence boundaries."""
    out: list[str] = []
    used = gen.count_tokens(gen.render(rag_messages(question, [])))
    for n, hit in enumerate(hits, start=1):
        text = format_passage(n, hit)
        cost = gen.count_tokens(text) + 2
        if used + cost <= budget:
            out.append(text)
            used += cost
            continue
        kept: list[str] = []
        for sentence in split_sentences(hit.text):
            trial = format_passage(n, hit, " ".join([*kept, sentence]))
            if used + gen.count_tokens(trial) + 2 > budget:
                break
            kept.append(sentence)
        if kept:
            out.append(format_passage(n, hit, " ".join(kept)))
        break
    return out


def _relevance(kb: KnowledgeBase, query_vector: np.ndarray, hits: list[Hit]) -> float:
    """The best cosine similarity between the query and a retrieved passage."""
    if not hits:
        return 0.0
    return float(np.max(kb.store.vectors([h.chunk_id for h in hits]) @ query_vector))


def _run(
    gen: Generator,
    messages: list[dict[str, str]],
    s: AskSettings,
    on_token: OnToken | None,
    timings: dict[str, float],
) -> str:
    t0 = time.perf_counter()
    pieces: list[str] = []
    for piece in gen.stream(messages, max_tokens=s.max_tokens, temperature=s.temperature):
        if not pieces:
            timings["ttft_s"] = time.perf_counter() - t0
        pieces.append(piece)
        if on_token:
            on_token(piece)
    timings["generate_s"] = time.perf_counter() - t0
    timings["completion_tokens"] = float(gen.count_tokens("".join(pieces))) if pieces else 0.0
    gen_s = timings["generate_s"] - timings.get("ttft_s", 0.0)
    timings["tokens_per_s"] = (timings["completion_tokens"] - 1) / gen_s if gen_s > 0 else 0.0
    return "".join(pieces).strip()


def answer_from_passages(
    question: str,
    hits: list[Hit],
    gen: Generator,
    s: AskSettings,
    on_token: OnToken | None = None,
    timings: dict[str, float] | None = None,
    relevance: float = 1.0,
) -> Answer:
    timings = timings if timings is not None else {}
    budget = gen.context_window - s.max_tokens - 16
    if s.context_tokens:
        budget = min(budget, s.context_tokens)
    passages = fit_passages(gen, question, hits, budget)
    used = hits[: len(passages)]
    messages = rag_messages(question, passages, s.sentences)
    prompt = gen.render(messages)
    timings["prompt_tokens"] = float(gen.count_tokens(prompt))
    if not used or relevance < s.min_relevance:
        return Answer(
            question,
            NOT_COVERED,
            [],
            used,
            prompt,
            gen.id,
            timings,
            abstained=True,
            raw_answer="",
            unsupported=[],
        )
    raw = _run(gen, messages, s, on_token, timings)
    return _checked(question, raw, used, prompt, gen.id, timings, s)


def _checked(
    question: str,
    raw: str,
    used: list[Hit],
    prompt: str,
    model: str,
    timings: dict[str, float],
    s: AskSettings,
) -> Answer:
    if not raw or cit.is_abstention(raw):
        return Answer(question, NOT_COVERED, [], used, prompt, model, timings, True, raw)
    sentences = cit.check(raw, [h.text for h in used], s.support_threshold)
    seen: set[str] = set()
    kept = []
    for x in sentences:  # small models repeat themselves: each supported sentence once
        if x.supported and x.text.lower() not in seen:
            seen.add(x.text.lower())
            kept.append(x)
    if not kept:
        return Answer(
            question, NOT_COVERED, [], used, prompt, model, timings, True, raw, [x.text for x in sentences]
        )
    by_n: dict[int, list[cit.CheckedSentence]] = {}
    for x in kept:
        for n in x.kept + x.inferred:
            by_n.setdefault(n, []).append(x)
    citations = []
    for n, xs in sorted(by_n.items()):
        h = used[n - 1]
        citations.append(
            Citation(
                n,
                h.source,
                h.section,
                h.page,
                cit.best_quote(h.text, [x.text for x in xs]),
                round(max(x.score[n] for x in xs), 3),
                inferred=all(n in x.inferred for x in xs),
            )
        )
    text = " ".join(f"{x.text} " + "".join(f"[{n}]" for n in x.kept + x.inferred) for x in kept)
    return Answer(
        question,
        text.strip(),
        citations,
        used,
        prompt,
        model,
        timings,
        False,
        raw,
        [x.text for x in sentences if not x.supported],
        supported=sum(1 for x in sentences if x.supported),
    )


def ask(
    question: str,
    kb: str | os.PathLike[str] | KnowledgeBase | None = None,
    model: str | Generator | None = None,
    adapter: str | None = None,
    settings: AskSettings | None = None,
    filters: Filters | None = None,
    on_token: OnToken | None = None,
    query: str | None = None,
) -> Answer:
    """Answer a question from the KB's passages (or from the model alone when ``kb`` is None)."""
    s = settings or AskSettings()
    t0 = time.perf_counter()
    gen = model if model is not None and not isinstance(model, str) else load_generator(model, adapter)
    timings: dict[str, float] = {"load_s": time.perf_counter() - t0}
    if kb is None:
        messages = alone_messages(question, s.sentences)
        raw = _run(gen, messages, s, on_token, timings)
        timings["total_s"] = time.perf_counter() - t0
        return Answer(
            question,
            raw,
            [],
            [],
            gen.render(messages),
            gen.id,
            timings,
            abstained=cit.is_abstention(raw),
            raw_answer=raw,
            query=question,
        )
    opened = kb if isinstance(kb, KnowledgeBase) else KnowledgeBase.open(kb)
    try:
        t1 = time.perf_counter()
        qvec = opened.embed([query or question])[0]  # embedded once, for retrieval and relevance
        hits = retrieve(opened, query or question, k=s.k, filters=filters, query_vector=qvec)
        relevance = _relevance(opened, qvec, hits)
        timings["retrieve_s"] = time.perf_counter() - t1
        answer = answer_from_passages(question, hits, gen, s, on_token, timings, relevance)
    finally:
        if opened is not kb:
            opened.close()
    answer.query = query or question
    timings["total_s"] = time.perf_counter() - t0
    return answer
