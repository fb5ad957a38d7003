"""The reserved fifth: a stable share of a knowledge base's chunks is kept for evaluation questions
(``expert eval generate``) and never enters training data (``expert data from-kb``, RAFT
distractors included), so a fine-tuned model is never evaluated on what it was trained on.

Both ``finetune`` and ``evaluate`` read the partition from here (below both in the pipeline)."""

from __future__ import annotations

import hashlib
from typing import Literal

from industry_expert.kb import KnowledgeBase
from industry_expert.types import Hit

EVAL_SHARE = 0.2
"""Share of chunks reserved for evaluation."""

Part = Literal["train", "eval", "all"]


def is_eval_chunk(hit: Hit) -> bool:
    """Whether the chunk belongs to the reserved evaluation fifth: decided by a hash of its text
    alone, so the partition is the same on every machine, wherever the data folder lives (a document
    id follows the file's path) and across re-ingests, and a passage two documents share falls on
    one side for both."""
    digest = hashlib.sha256(hit.text.encode("utf-8", "surrogateescape")).digest()
    return digest[0] < EVAL_SHARE * 256


def in_part(hit: Hit, part: Part) -> bool:
    return part == "all" or is_eval_chunk(hit) == (part == "eval")


def kb_chunks(kb: KnowledgeBase, part: Part = "train") -> list[Hit]:
    """Chunks of the KB in the ``train`` or ``eval`` partition (``all`` for both), in id order."""
    ids = kb.store.chunk_ids()
    hits = kb.store.hits(ids)
    return [hits[i] for i in ids if in_part(hits[i], part)]
