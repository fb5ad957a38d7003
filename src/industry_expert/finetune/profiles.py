"""Per-base fine-tuning defaults: the schedule and LoRA settings that depend on the base model.

``FinetuneSettings``' own defaults were chosen for SmolLM2-135M on the invented fact set tune12
(bench/finetune_defaults.py). A larger base learns the same facts in fewer, smaller steps and forgets
more at SmolLM2's learning rate, so each measured catalogue base carries the values chosen for it
on tune12 by ``bench/finetune_qwen_facts.py`` (rule and candidates in its docstring; reported on a12
and b36: bench/results/finetune_qwen_facts.md). A value the user sets (config file, flag,
``FinetuneSettings(...)``) always wins; a base outside this table (a Hugging Face id or path, or a
catalogue base without a measured profile) trains at the plain defaults.
"""

from __future__ import annotations

from typing import Any

from industry_expert.config import FinetuneSettings

QWEN: dict[str, Any] = {
    "lr": 2e-4,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
"""Chosen on tune12 for qwen2.5-0.5b (round 1 of bench/finetune_qwen_facts.py: of five schedule and
LoRA settings on the data as given, the nearest to both goals: 14/24 held-out facts, general66 23/66
from 48; SmolLM2's lr 1e-3 on attention only: 4/24 and 21/66; attention only at lr 2e-4: 7/24 and
14/66). Reported on a12: 19/24 and 38/66 (SmolLM2's values: 20/24 and 18/66)."""

PROFILES: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": QWEN,
    "qwen2.5-1.5b": QWEN,  # the 0.5B's values: the same family and template, not measured on the 1.5B
}
"""Keyed by catalogue name (``models/catalog.py``)."""


QWEN_REPLAY: dict[str, Any] = {
    "share": 0.5,
    "answers": "model",
    "measured": "general questions 48 -> 23 and 48 -> 38 of 66 after tuning on two sets of 36 "
    "invented facts; with the mix, 35 and 36",
}
"""The mix measured best on a base (round 2 of bench/finetune_qwen_facts.py, chosen on tune12: half
the examples general questions answered by the base itself), and what it did on the set it was
chosen on and on the reported one (a12), where it kept no more than the data alone. Mixing stays
the user's step (`expert data mix`); training such a base on data without replayed examples prints
this advice with those numbers."""

REPLAY: dict[str, dict[str, Any]] = {"qwen2.5-0.5b": QWEN_REPLAY, "qwen2.5-1.5b": QWEN_REPLAY}


def replay_note(base: str, examples: list[Any]) -> str | None:
    """Advice for data without replayed examples (``"replay": true``, `expert data mix`) on a base
    measured to forget general knowledge; None otherwise."""
    from industry_expert.models.checkpoints import catalogue_name

    name = catalogue_name(base)
    r = REPLAY.get(name or "")
    if r is None or any(getattr(e, "meta", {}).get("replay") for e in examples):
        return None
    return (
        f"{name} loses general knowledge when tuned on small data ({r['measured']}, "
        "bench/results/finetune_qwen_facts.md). To mix general examples in: `expert data mix DATA "
        f"--out MIXED --share {r['share']}"
        + (f" --answers model --base {name}`" if r["answers"] == "model" else "`")
        + "; check what the adapter kept with `expert eval` on your own general questions"
    )


def profile_for(base: str) -> dict[str, Any]:
    """The per-base values of ``base`` (empty for a base outside the table: a Hugging Face id or
    path, or a catalogue base not measured)."""
    from industry_expert.models.checkpoints import catalogue_name

    return PROFILES.get(catalogue_name(base) or "", {})


def apply_profile(s: FinetuneSettings) -> tuple[FinetuneSettings, dict[str, Any]]:
    """``s`` with its base's values for every field the user did not set, and those values."""
    unset = {k: v for k, v in profile_for(s.base).items() if k not in s.model_fields_set}
    return (s.model_copy(update=unset) if unset else s), unset
