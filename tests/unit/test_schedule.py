"""The default fine-tuning schedule scales with the data and stops on the held-out loss."""

from __future__ import annotations

from industry_expert.finetune.schedule import plan, should_stop


def test_small_data_gets_more_epochs_large_data_keeps_its_epochs() -> None:
    tiny = plan(steps_per_epoch=9)  # 36 examples, batch 4: the failing default (27 steps)
    assert tiny.epochs == 12 and tiny.total_steps == 108 and "12 epochs instead of 3" in tiny.reason
    sample = plan(steps_per_epoch=27)  # 210 examples, batch 8
    assert sample.epochs == 4 and sample.total_steps == 108
    large = plan(steps_per_epoch=500)
    assert large.epochs == 3 and large.total_steps == 1500 and "already make 1500 steps" in large.reason


def test_caps_apply() -> None:
    assert plan(steps_per_epoch=1).epochs == 30  # at most max_epochs
    capped = plan(steps_per_epoch=9, max_steps=50)
    assert capped.total_steps == 50 and "capped at max_steps=50" in capped.reason
    assert plan(steps_per_epoch=9, epochs=40).epochs == 40  # an explicit larger epoch count stands


def test_early_stop_on_held_out_loss() -> None:
    assert not should_stop([2.0, 1.8, 1.7, 1.6], patience=2)
    assert not should_stop([2.0, 1.8, 1.9], patience=2)  # one bad evaluation is not enough
    assert should_stop([2.0, 1.8, 1.9, 1.85], patience=2)
    assert not should_stop([2.0, 1.8, 1.9, 1.79], patience=2)
    assert not should_stop([2.0], patience=0)


def test_patience_zero_turns_early_stopping_off() -> None:
    import pytest

    from industry_expert.config import FinetuneSettings
    from industry_expert.errors import ConfigError

    assert "no early stop (patience 0)" in plan(steps_per_epoch=9, patience=0).reason
    assert "early stop after 2 evals" in plan(steps_per_epoch=9).reason
    assert not should_stop([1.0, 2.0, 3.0, 4.0], patience=0)  # a rising loss never stops it
    assert FinetuneSettings.load(None, patience=0).patience == 0
    with pytest.raises(ConfigError, match="patience"):
        FinetuneSettings.load(None, patience=-1)
