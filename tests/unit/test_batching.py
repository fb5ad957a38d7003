"""The three batching modes of fine-tuning (``finetune.batching``): every example is trained once
per epoch, padding never counts in the loss, and ``pack`` never predicts across an example
boundary. No model: the batches are built from token ids directly."""

from __future__ import annotations

import pytest

from industry_expert.finetune.encode import IGNORE, Encoded, batches


def _data() -> list[Encoded]:
    # example i: ids 1000*i + j; the first half is the prompt (masked), the second the answer
    out = []
    for i, n in enumerate([5, 9, 3, 12, 7, 4, 10, 6], start=1):
        ids = [1000 * i + j for j in range(n)]
        out.append(Encoded(ids, [IGNORE] * (n // 2) + ids[n // 2 :]))
    return out


@pytest.mark.parametrize("mode", ["bucket", "pack", "pad"])
def test_each_example_once_and_padding_never_trained(mode: str) -> None:
    data = _data()
    seen: list[int] = []
    trained: list[int] = []
    for b in batches(data, 3, mode, max_len=20, pad_id=0, seed=1):
        ids, labels, mask = b["input_ids"], b["labels"], b["attention_mask"]
        assert ids.shape == labels.shape == mask.shape and ids.shape[1] <= 20
        assert bool((labels[mask == 0] == IGNORE).all())  # padding is masked out of the loss
        seen += [int(t) for t in ids[mask == 1]]
        trained += [int(t) for t in labels[labels != IGNORE]]
    assert sorted(seen) == sorted(t for d in data for t in d.ids)
    want = sorted(t for d in data for t in d.labels if t != IGNORE)
    if mode == "pack":  # the first token of each packed example is never a target
        want = sorted(t for d in data for t in d.labels[1:] if t != IGNORE)
    assert sorted(trained) == want


def test_pack_fills_rows_and_never_predicts_across_a_boundary() -> None:
    data = _data()
    rows = [r for b in batches(data, 1, "pack", max_len=20, pad_id=0, seed=0) for r in zip(*b.values())]
    assert len(rows) < len(data)  # several examples share a row
    for ids, labels, mask in rows:
        ids = [int(t) for t, m in zip(ids, mask) if m]
        labels = [int(t) for t, m in zip(labels, mask) if m]
        assert len(ids) <= 20
        for pos in range(1, len(ids)):
            if ids[pos] // 1000 != ids[pos - 1] // 1000:  # an example starts here
                assert labels[pos] == IGNORE
