"""Conversations -> token ids with labels on assistant answers only; batches that avoid padding."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from industry_expert.finetune.data import Example
from industry_expert.models.templates import render

IGNORE = -100


@dataclass
class Encoded:
    ids: list[int]
    labels: list[int]  # IGNORE outside assistant answers

    @property
    def trained_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def encode(example: Example, tokenizer: Any, template: str) -> Encoded:
    """Tokenize segment by segment: each message's text is the difference between the template
    rendered with and without it, so masking follows the model's real chat template."""
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    msgs = example.messages
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            header = render(template, msgs[:i], bos, eos, add_generation_prompt=True)
            _add(tokenizer, header[len(done) :], ids, labels, train=False)
            done = header
        full = render(template, msgs[: i + 1], bos, eos, add_generation_prompt=False)
        _add(tokenizer, full[len(done) :], ids, labels, train=m["role"] == "assistant")
        done = full
    return Encoded(ids, labels)


def _add(tokenizer: Any, text: str, ids: list[int], labels: list[int], train: bool) -> None:
    if not text:
        return
    piece = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids.extend(piece)
    labels.extend(piece if train else [IGNORE] * len(piece))


def batches(
    data: list[Encoded], batch_size: int, mode: str, max_len: int, pad_id: int, seed: int
) -> Iterator[dict[str, Any]]:
    """One epoch of batches. ``bucket``: length-sorted groups, batch order shuffled; ``pack``:
    examples concatenated into rows of ``max_len`` (no loss across an example boundary; attention
    may see the earlier examples of its row); ``pad``:
    shuffled and padded to the longest in the batch."""
    rng = random.Random(seed)
    data = [Encoded(d.ids[:max_len], d.labels[:max_len]) for d in data]
    if mode == "pack":
        rows = _pack(data, max_len)
        rng.shuffle(rows)
        groups = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    else:
        order = (
            sorted(range(len(data)), key=lambda i: len(data[i].ids))
            if mode == "bucket"
            else rng.sample(range(len(data)), len(data))
        )
        groups = [[data[i] for i in order[j : j + batch_size]] for j in range(0, len(order), batch_size)]
        rng.shuffle(groups)
    for group in groups:
        yield _collate(group, pad_id)


def _pack(data: list[Encoded], max_len: int) -> list[Encoded]:
    rows: list[Encoded] = []
    cur = Encoded([], [])
    for d in data:
        if cur.ids and len(cur.ids) + len(d.ids) > max_len:
            rows.append(cur)
            cur = Encoded([], [])
        cur.ids.extend(d.ids)
        cur.labels.extend([IGNORE] + d.labels[1:])  # never predict across an example boundary
    if cur.ids:
        rows.append(cur)
    return rows


def _collate(group: list[Encoded], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(g.ids) for g in group)
    ids = torch.full((len(group), width), pad_id, dtype=torch.long)
    labels = torch.full((len(group), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(group), width), dtype=torch.long)
    for row, g in enumerate(group):
        ids[row, : len(g.ids)] = torch.tensor(g.ids)
        labels[row, : len(g.labels)] = torch.tensor(g.labels)
        mask[row, : len(g.ids)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
