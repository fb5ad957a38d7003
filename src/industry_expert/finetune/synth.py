"""Training data from a knowledge base: question/answer pairs per chunk (templates for table and
database rows, section-based or model-written for prose), several phrasings per fact, the source of
every pair recorded; and RAFT examples (question + oracle passage + distractors -> cited answer)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from industry_expert.generate.citations import content_words
from industry_expert.generate.prompts import NOT_COVERED, format_passage, rag_messages
from industry_expert.kb import KnowledgeBase
from industry_expert.partition import EVAL_SHARE, Part, is_eval_chunk, kb_chunks  # noqa: F401 (re-exported)
from industry_expert.text import human_column, key_column, lines_and_sentences, table_rows
from industry_expert.types import Hit

SYSTEM = "You are the company's expert assistant."
ROW_QUESTIONS = [
    "What is the {col} of {key}?",
    "For {key}, what {col} is listed?",
    "Tell me the {col} for {key}.",
    "{key}: {col}?",
]
SECTION_QUESTIONS = [
    "What does the {doc} say about {topic}?",
    "Explain {topic} ({doc}).",
    "What should I know about {topic}?",
]


@dataclass
class QA:
    question: str
    answer: str
    source: str
    section: str
    chunk_id: int
    kind: str  # row | section | model


def row_pairs(hit: Hit, phrasings: int) -> Iterator[QA]:
    for row in table_rows(hit.text):
        key_col = key_column(row)
        key = row[key_col]
        for col, val in row.items():
            if col == key_col or not val:
                continue
            answer = f"The {human_column(col)} of {key} is {val}."
            for template in ROW_QUESTIONS[:phrasings]:
                yield QA(
                    template.format(col=human_column(col), key=key),
                    answer,
                    hit.source,
                    hit.section,
                    hit.chunk_id,
                    "row",
                )


def section_pairs(hit: Hit, phrasings: int) -> Iterator[QA]:
    parts = [p.strip() for p in hit.section.split(" > ")]
    if len(parts) < 2:
        return
    # sentences of each line: a table row or list item stays a unit the citation check can match
    answer = "\n".join(s.strip() for s in lines_and_sentences(hit.text)[:2])
    for template in SECTION_QUESTIONS[:phrasings]:
        yield QA(
            template.format(doc=parts[0], topic=parts[-1]),
            answer,
            hit.source,
            hit.section,
            hit.chunk_id,
            "section",
        )


def model_pairs(hit: Hit, gen, phrasings: int) -> Iterator[QA]:  # type: ignore[no-untyped-def]
    from industry_expert.models.generators import generate

    prompt = [
        {
            "role": "user",
            "content": f"Passage:\n{hit.text}\n\nWrite {phrasings} different questions "
            "that this passage answers, each followed by its short answer, as lines 'Q: ...' and 'A: ...'.",
        }
    ]
    text = generate(gen, prompt, max_tokens=60 * phrasings)
    for q, a in re.findall(r"Q:\s*(.+?)\s*\n\s*A:\s*(.+)", text):
        yield QA(q.strip(), a.strip(), hit.source, hit.section, hit.chunk_id, "model")


kb_hits = kb_chunks  # the partition lives in industry_expert.partition (the reserved fifth)


def pairs_from_kb(kb: KnowledgeBase, phrasings: int = 3, gen=None, part: Part = "train") -> list[QA]:  # type: ignore[no-untyped-def]
    out: list[QA] = []
    for hit in kb_hits(kb, part):
        if hit.type in ("csv", "xlsx", "sqlite"):
            out.extend(row_pairs(hit, phrasings))
        elif gen is not None:
            out.extend(model_pairs(hit, gen, phrasings))
        else:
            out.extend(section_pairs(hit, phrasings))
    return out


def chat_example(qa: QA) -> dict:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": qa.question},
            {"role": "assistant", "content": qa.answer},
        ],
        "source": qa.source,
        "section": qa.section,
        "chunk_id": qa.chunk_id,
        "kind": qa.kind,
    }


def cited_answer(answer: str, passage: str, n: int) -> str:
    """The answer as ``expert ask`` wants it: every sentence followed by ``[n]``, then the passage
    sentence that shares the most content words with it, quoted verbatim (what the citation check
    accepts), unless the answer already contains that sentence (prose answers are copied)."""
    cited = " ".join(f"{s.strip()} [{n}]" for s in lines_and_sentences(answer) if s.strip())
    words = content_words(answer)
    candidates = [s.strip() for s in lines_and_sentences(passage) if s.strip()] or [passage.strip()]
    quote = max(candidates, key=lambda s: len(content_words(s) & words))
    return cited if quote in answer else f'{cited} The passage says: "{quote}" [{n}]'


def raft_example(
    qa: QA, kb: KnowledgeBase, rng: random.Random, distractors: int = 3, p_no_oracle: float = 0.2
) -> dict:
    """RAFT: the oracle passage among retrieved distractors (hard negatives), shuffled; for a
    fraction of examples distractors only, where the answer is the abstention."""
    from industry_expert.retrieve.hybrid import retrieve

    oracle = kb.store.hits([qa.chunk_id])[qa.chunk_id]
    # distractors never come from the reserved evaluation fifth either
    pool = [
        h
        for h in retrieve(kb, qa.question, k=distractors * 4)
        if h.doc_id != oracle.doc_id and not is_eval_chunk(h)
    ]
    passages = pool[:distractors]
    if len(passages) < distractors:  # a small KB: fill up with random chunks of other documents
        others = [h for h in kb_chunks(kb, "train") if h.doc_id != oracle.doc_id and h not in passages]
        passages += rng.sample(others, min(len(others), distractors - len(passages)))
    with_oracle = rng.random() >= p_no_oracle
    if with_oracle:
        passages.insert(rng.randrange(len(passages) + 1), oracle)
    formatted = [format_passage(n, h) for n, h in enumerate(passages, start=1)]
    messages = rag_messages(qa.question, formatted)
    answer = cited_answer(qa.answer, oracle.text, passages.index(oracle) + 1) if with_oracle else NOT_COVERED
    return {
        "messages": [*messages, {"role": "assistant", "content": answer}],
        "source": qa.source,
        "oracle": with_oracle,
        "chunk_id": qa.chunk_id,
        "chunk_ids": [h.chunk_id for h in passages],
        "kind": f"raft-{qa.kind}",
    }


def write_from_kb(
    kb_path: str | Path,
    out: str | Path,
    raft: bool = False,
    phrasings: int = 3,
    model: str | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> dict:
    rng = random.Random(seed)
    gen = None
    if model:
        from industry_expert.models.generators import load_generator

        gen = load_generator(model)
    with KnowledgeBase.open(kb_path) as kb:
        pairs = pairs_from_kb(kb, phrasings, gen)
        rng.shuffle(pairs)
        pairs = pairs[:limit] if limit else pairs
        rows = [raft_example(p, kb, rng) if raft else chat_example(p) for p in pairs]
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    return {
        "out": str(out),
        "examples": len(rows),
        "kinds": kinds,
        "sources": len({r["source"] for r in rows}),
    }
