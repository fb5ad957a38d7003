"""Self-replay: ``expert data mix --answers model`` keeps the replayed general questions and answers
each with the base model itself (the bundled SmolLM2, greedy, ``expert ask``'s path without a KB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.cli import main
from industry_expert.finetune.data import load_examples
from industry_expert.finetune.replay import GENERAL_REPLAY, SELF_MAX_TOKENS

pytestmark = pytest.mark.slow
TRAIN = Path(__file__).resolve().parents[2] / "examples" / "kestrel" / "finetune" / "train.jsonl"


def _user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def test_replayed_questions_are_answered_by_the_base_model(tmp_path: Path) -> None:
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.grounded import ask
    from industry_expert.models.checkpoints import resolve_base
    from industry_expert.models.generators import load_generator

    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(TRAIN.read_text(encoding="utf-8").splitlines(keepends=True)[:8]), encoding="utf-8"
    )
    out = tmp_path / "mixed.jsonl"
    r = CliRunner().invoke(
        main, ["data", "mix", str(data), "--out", str(out), "--answers", "model", "--json"]
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["answers"] == "model" and report["answered_by"] == "smollm2" and report["replay"] == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    replayed = [x for x in rows if x.get("replay")]
    assert len(rows) == 10 and len(replayed) == 2 and all(x["replay_answers"] == "model" for x in replayed)
    given = {_user(e.messages): e.messages[-1]["content"] for e in load_examples(GENERAL_REPLAY)}
    gen = load_generator(f"hf:{resolve_base('smollm2')}")
    for x in replayed:
        question, answer = _user(x["messages"]), x["messages"][-1]["content"]
        assert question in given and answer != given[question]  # the writer's answer is replaced ...
        own = ask(question, None, gen, settings=AnswerSettings(max_tokens=SELF_MAX_TOKENS)).answer
        assert answer == own.strip()  # ... by the model's own
    assert load_examples(out)  # valid training data
