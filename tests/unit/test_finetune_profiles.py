"""Per-base fine-tuning defaults (finetune/profiles.py): a measured catalogue base gets its own
values for what the user left unset; whatever the user sets, by file, flag or argument, wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from industry_expert.config import FinetuneSettings
from industry_expert.finetune.profiles import PROFILES, apply_profile


def test_a_measured_base_gets_its_values() -> None:
    s, applied = apply_profile(FinetuneSettings(base="qwen2.5-0.5b"))
    assert applied == PROFILES["qwen2.5-0.5b"] and applied
    for k, v in applied.items():
        assert getattr(s, k) == v != FinetuneSettings.model_fields[k].default


@pytest.mark.parametrize("base", ["smollm2", "microsoft/Phi-3-mini-4k-instruct", "/some/local/checkpoint"])
def test_other_bases_train_at_the_plain_defaults(base: str) -> None:
    s, applied = apply_profile(FinetuneSettings(base=base))
    assert applied == {} and s == FinetuneSettings(base=base)


def test_a_value_the_user_sets_wins_by_argument_flag_or_file(tmp_path: Path) -> None:
    field = next(iter(PROFILES["qwen2.5-0.5b"]))
    mine = FinetuneSettings.model_fields[field].default  # even the plain default, set on purpose
    s, applied = apply_profile(FinetuneSettings(base="qwen2.5-0.5b", **{field: mine}))
    assert getattr(s, field) == mine and field not in applied
    s, applied = apply_profile(FinetuneSettings.load(None, base="qwen2.5-0.5b", **{field: mine}))
    assert getattr(s, field) == mine and field not in applied
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"finetune:\n  {field}: {mine}\n")
    s, applied = apply_profile(FinetuneSettings.load(cfg, base="qwen2.5-0.5b"))
    assert getattr(s, field) == mine and field not in applied
    s, applied = apply_profile(FinetuneSettings.load(cfg))  # the base from no one: SmolLM2
    assert applied == {}
    # the base given by flag, nothing else: the profile applies through the merged settings
    s, applied = apply_profile(FinetuneSettings.load(None, base="qwen2.5-0.5b"))
    assert applied == PROFILES["qwen2.5-0.5b"]


def test_a_base_that_forgets_without_replay_says_how_to_mix(tmp_path: Path) -> None:
    from industry_expert.finetune.data import load_examples
    from industry_expert.finetune.profiles import replay_note

    plain = tmp_path / "plain.jsonl"
    plain.write_text(
        '{"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}\n'
    )
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        plain.read_text()
        + '{"messages": [{"role": "user", "content": "G?"}, {"role": "assistant", "content": "B."}], "replay": true}\n'
    )
    note = replay_note("qwen2.5-0.5b", load_examples(plain))
    assert note and "expert data mix DATA --out MIXED --share 0.5 --answers model --base qwen2.5-0.5b" in note
    assert replay_note("qwen2.5-0.5b", load_examples(mixed)) is None  # already mixed
    assert replay_note("smollm2", load_examples(plain)) is None  # not measured to need it
