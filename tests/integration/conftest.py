"""What the tiny-model fine-tuning tests share (test_finetune_tiny on Phi-3, test_finetune_qwen on
Qwen2): the invented facts, the chat JSONL they train on, and the settings of a short fixed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.finetune.settings import FinetuneSettings

FACTS = [
    ("What is the Blue Flush?", "The Blue Flush is a 25 minute rinse."),
    ("Which tag locks out a pump?", "The Kestrel Green Tag locks out a pump."),
    ("What is the T-check?", "The T-check is a torque verification step."),
    ("Who approves Stage Gate 2?", "Stage Gate 2 is approved by Service Engineering."),
]


def build_notes_kb(root: Path, notes: list[str]) -> Path:
    """A KB of one small Markdown note per text of ``notes`` (``# Note i`` + the text), ingested
    with the bundled embedder into ``root / "kb"``."""
    from industry_expert.ingest.pipeline import ingest

    data = root / "data"
    data.mkdir(exist_ok=True)
    for i, body in enumerate(notes):
        (data / f"doc{i}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    assert ingest([str(data)], root / "kb").ok
    return root / "kb"


def write_chat(path: Path, rows: list[tuple[str, str]], repeat: int) -> Path:
    """``rows`` (question, answer) as chat JSONL at ``path``, the whole list ``repeat`` times."""
    lines = [
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        for q, a in rows * repeat
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_settings(base: Path, method: str, **kw: object) -> FinetuneSettings:
    """A short run on a tiny model: batch 4, lr 3e-2, seed 1, 6 epochs with 20% held out, 64
    tokens; the fixed schedule, since the tests pin exact step counts. ``kw`` overrides any field."""
    fields: dict[str, object] = dict(
        base=str(base),
        method=method,
        epochs=6,
        batch_size=4,
        lr=3e-2,
        eval_fraction=0.2,
        max_seq_len=64,
        seed=1,
        schedule="fixed",
    )
    return FinetuneSettings(**{**fields, **kw})  # type: ignore[arg-type]


@pytest.fixture
def chat_data(tmp_path: Path) -> Path:
    """The four facts, three times over (12 examples), in ``tmp_path/train.jsonl``."""
    return write_chat(tmp_path / "train.jsonl", FACTS, 3)
