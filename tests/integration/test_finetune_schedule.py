"""The default schedule ('auto') on a tiny random Phi-3: small data gets more epochs, training stops
once the held-out loss stops improving and the best epoch's weights are the ones saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from industry_expert.config import FinetuneSettings
from industry_expert.finetune.lora import finetune

pytestmark = pytest.mark.slow
WORDS = [
    "stops",
    "starts",
    "drains",
    "vents",
    "locks",
    "rinses",
    "cools",
    "heats",
    "primes",
    "seals",
    "trips",
    "resets",
]


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    """12 different facts: the held-out ones are not in training, so overfitting raises their loss."""
    path = tmp_path / "train.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is code {i}?"},
                {"role": "assistant", "content": f"Code {i} means the pump {w}."},
            ]
        }
        for i, w in enumerate(WORDS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _settings(tiny_phi3: Path, **kw: object) -> FinetuneSettings:
    base = dict(
        base=str(tiny_phi3),
        method="lora",
        batch_size=2,
        lr=5e-2,
        eval_fraction=0.25,
        max_seq_len=64,
        seed=1,
        min_steps=30,
    )
    return FinetuneSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_auto_schedule_scales_epochs_and_stops_on_held_out_loss(
    tiny_phi3: Path, facts: Path, tmp_path: Path
) -> None:
    r = finetune(facts, tmp_path / "auto", _settings(tiny_phi3))
    plan = r.schedule
    assert plan["steps_per_epoch"] == 5 and plan["epochs"] == 6 and plan["total_steps"] == 30
    assert "6 epochs instead of 3" in plan["reason"]
    losses = r.eval_losses
    assert plan["stopped_early"] and r.steps < plan["total_steps"]
    assert plan["best_epoch"] == losses.index(min(losses)) + 1
    assert min(losses[-plan["patience"] :]) >= min(losses)  # stopped for a reason
    saved = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert saved["schedule"] == plan

    # the saved adapter is the best epoch's: its held-out loss is the best one measured
    from peft import set_peft_model_state_dict

    from industry_expert.finetune import loop
    from industry_expert.finetune.lora import setup

    run = setup(facts, tmp_path / "check", _settings(tiny_phi3, schedule="fixed"))
    set_peft_model_state_dict(run.model, load_file(str(tmp_path / "auto" / "adapter_model.safetensors")))
    evals = list(run.batches(run.evals, run.s.seed, "bucket"))
    assert loop.eval_loss(run.acc, run.model, evals) == pytest.approx(min(losses), abs=1e-3)

    fixed = finetune(facts, tmp_path / "fixed", _settings(tiny_phi3, schedule="fixed"))
    assert fixed.steps == 15 and fixed.epochs_done == 3 and not fixed.schedule["stopped_early"]
