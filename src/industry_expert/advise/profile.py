"""Data signals for the advice: KB size, how often it changed, how specialised its vocabulary is,
and the size and cleanliness of a training set."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError

_WORD = re.compile(r"[A-Za-z][A-Za-z\-]*[A-Za-z]|[A-Za-z]+-?\d[\w\-]*")
DAY = 86400.0


@dataclass
class KBProfile:
    documents: int
    chunks: int
    types: dict[str, int]
    ingest_runs: int
    changed_per_run: float  # documents ingested or removed per re-ingest (after the first)
    history_days: float  # time between the first and the last ingest
    recent_file_share: float | None  # share of files modified in the last 30 days (None: not measurable)
    file_age_span_days: float
    specialised_term_share: float  # share of distinct terms outside general English
    top_specialised_terms: list[str] = field(default_factory=list)


@dataclass
class DataProfile:
    examples: int
    exact_duplicate_share: float
    near_duplicate_share: float
    empty_answers: int
    median_tokens: float


@dataclass
class Profile:
    kb: KBProfile | None = None
    data: DataProfile | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def general_vocabulary() -> set[str]:
    """Whole English words known to the bundled models' tokenizers: the embedder's word pieces
    (30k, BERT) and the SmolLM2 GGUF's byte-level BPE words (49k tokens): general text, not a
    company's codes and coinages."""
    from industry_expert.models.sentence_transformers import bundled_model_dir

    vocab = (bundled_model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    words = {w for w in vocab if w.isalpha()}
    try:
        from gguf import GGUFReader

        from industry_expert.models.llamacpp import bundled_gguf

        field = GGUFReader(str(bundled_gguf())).fields["tokenizer.ggml.tokens"]
        for i in field.data:
            token = bytes(field.parts[i]).decode("utf-8", "ignore")
            if token.startswith("\u0120") and token[1:].isalpha():
                words.add(token[1:].lower())
    except (ImportError, KeyError, OSError, ModelError):
        pass  # the embedder's vocabulary alone still gives a usable (stricter) measure
    return words


def specialised_terms(texts: list[str], general: set[str]) -> tuple[float, list[str]]:
    """Share of distinct terms (seen at least twice) not in the general vocabulary: codes, part
    numbers, company words; with the most frequent of them."""
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
    terms = {w: c for w, c in counts.items() if c >= 2 and len(w) >= 3}
    special = {
        w: c
        for w, c in terms.items()
        if any(ch.isdigit() for ch in w) or not all(p in general for p in w.split("-") if p)
    }
    share = len(special) / len(terms) if terms else 0.0
    return share, [w for w, _ in Counter(special).most_common(12)]


def profile_kb(kb_path: str | Path, now: float | None = None) -> KBProfile:
    from industry_expert.kb import KnowledgeBase

    now = now or time.time()
    with KnowledgeBase.open(kb_path) as kb:
        stats = kb.store.stats()
        runs = kb.store.runs()
        docs = kb.store.documents()
        texts = [h.text for h in kb.store.hits(kb.store.chunk_ids()).values()]
    changes = [r["report"].get("ingested", 0) + r["report"].get("removed", 0) for r in runs[1:]]
    mtimes = [os.stat(d.abs_path).st_mtime for d in docs if os.path.exists(d.abs_path)]
    span = (max(mtimes) - min(mtimes)) / DAY if mtimes else 0.0
    # a fresh checkout or copy gives every file the same time: then file times say nothing
    recent = sum(1 for t in mtimes if now - t < 30 * DAY) / len(mtimes) if mtimes and span > 30 else None
    share, top = specialised_terms(texts, general_vocabulary())
    return KBProfile(
        documents=stats["documents"],
        chunks=stats["chunks"],
        types=stats["types"],
        ingest_runs=len(runs),
        changed_per_run=sum(changes) / len(changes) if changes else 0.0,
        history_days=(runs[-1]["finished"] - runs[0]["started"]) / DAY if len(runs) > 1 else 0.0,
        recent_file_share=recent,
        file_age_span_days=span,
        specialised_term_share=share,
        top_specialised_terms=top,
    )


def profile_data(path: str | Path) -> DataProfile:
    from industry_expert.finetune.data import check, load_examples
    from industry_expert.ingest.chunking import count_tokens as approx_tokens

    examples = load_examples(path)
    report = check(examples, approx_tokens, max_seq_len=10**9, path=str(path))
    near = sum(len(g) - 1 for g in report.near_duplicates)
    return DataProfile(
        examples=report.examples,
        exact_duplicate_share=len(report.exact_duplicates) / report.examples,
        near_duplicate_share=near / report.examples,
        empty_answers=len(report.empty_answers),
        median_tokens=report.tokens["median"],
    )
