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


def end_of_turn(tokenizer: Any, template: str) -> str:
    """The text a template puts right after an assistant message's content (its first token),
    e.g. ``<|end|>`` for Phi-3 or ``<|im_end|>`` for ChatML: trained, so the model learns to stop."""
    probe = render(
        template,
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": "\u00a7"}],
        tokenizer.bos_token or "",
        tokenizer.eos_token or "",
        add_generation_prompt=False,
    )
    suffix = probe[probe.rindex("\u00a7") + 1 :]
    ids = tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix.strip() else []
    return str(tokenizer.decode(ids[:1])) if ids else ""


def encode(example: Example, tokenizer: Any, template: str, eot: str | None = None) -> Encoded:
    """Render the whole conversation with the model's chat template, tokenize it once, and label
    only the tokens inside assistant answers (plus each answer's end-of-turn marker)."""
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    eot = end_of_turn(tokenizer, template) if eot is None else eot
    msgs = example.messages
    full = render(template, msgs, bos, eos, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        header = render(template, msgs[:i], bos, eos, add_generation_prompt=True)
        start = full.find(m["content"], len(header) - 1 if header else 0)
        if not full.startswith(header) or start < 0:
            raise ValueError(f"line {example.line}: the chat template does not reproduce the answer text")
        end = start + len(m["content"])
        if eot and full.startswith(eot, end):
            end += len(eot)
        spans.append((start, end))
    tok = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    labels = [
        tid if any(s <= a and b <= e for s, e in spans) and b > a else IGNORE
        for tid, (a, b) in zip(tok["input_ids"], tok["offset_mapping"])
    ]
    return Encoded(list(tok["input_ids"]), labels)


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
