"""A training schedule that scales with the data: enough optimizer steps for a few dozen examples,
a few epochs for thousands, and early stopping on the held-out loss.

What it rests on (measured with the bundled SmolLM2-135M, see the issue and bench/results):
``expert finetune`` with 3 fixed epochs on 36 examples ran 27 steps and learned none of 12 new
facts; the sample recipe (210 examples, 3 epochs of 27 steps = 81 steps) learned them, and 30
steps at lr 1e-3 taught 3 facts verbatim. So small sets need more passes, not the same 3: the
plan raises the epochs until training makes ``min_steps`` optimizer steps (at most
``max_epochs``), and leaves large sets at ``epochs``. Early stopping then ends training once the
held-out loss has not improved for ``patience`` evaluations, so the extra passes cost nothing
when they do not help.

Measured on invented fact sets (bench/finetune_defaults.py, held-out paraphrases; results in
bench/results/finetune_defaults.md): on 12 facts (36 examples) the 100-step floor is what makes
the model learn (held-out 7/24 vs 0/24 with the old 27 steps), but those steps at lr 1e-3 also
overwrite general knowledge (66 general questions: 0.65 -> 0.30); on 36 facts neither 75 nor 100
steps learned more than 3/72. The held-out loss rarely stops training here: the eval split holds
other phrasings of trained facts, whose loss keeps falling. Mix general examples into the data
(``expert data mix``, replay.py) to keep what the model knew.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MIN_STEPS = 100
MAX_EPOCHS = 30
PATIENCE = 2


@dataclass(frozen=True)
class Plan:
    epochs: int
    steps_per_epoch: int
    total_steps: int
    patience: int  # evaluations (one per epoch) without a better held-out loss before stopping
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    steps_per_epoch: int,
    epochs: int = 3,
    max_steps: int | None = None,
    min_steps: int = MIN_STEPS,
    max_epochs: int = MAX_EPOCHS,
    patience: int = PATIENCE,
) -> Plan:
    """The epochs and steps to run for ``steps_per_epoch`` optimizer steps per pass."""
    if steps_per_epoch < 1:
        raise ValueError("steps_per_epoch must be >= 1")
    needed = math.ceil(min_steps / steps_per_epoch)
    chosen = min(max(epochs, needed), max(epochs, max_epochs))
    total = steps_per_epoch * chosen if max_steps is None else min(steps_per_epoch * chosen, max_steps)
    if chosen > epochs:
        reason = (
            f"{steps_per_epoch} steps per epoch: {chosen} epochs instead of {epochs} to reach "
            f"{min(min_steps, steps_per_epoch * chosen)} steps (small data needs more passes)"
        )
    else:
        reason = f"{steps_per_epoch} steps per epoch: {epochs} epochs already make {steps_per_epoch * epochs} steps"
    if max_steps is not None and total < steps_per_epoch * chosen:
        reason += f"; capped at max_steps={max_steps}"
    return Plan(
        chosen,
        steps_per_epoch,
        total,
        patience,
        reason
        + (
            f"; early stop after {patience} evals without improvement"
            if patience
            else "; no early stop (patience 0)"
        ),
    )


def should_stop(eval_losses: list[float], patience: int) -> bool:
    """True when none of the last ``patience`` held-out losses beat the best one before them."""
    if patience < 1 or len(eval_losses) <= patience:
        return False
    best_before = min(eval_losses[:-patience])
    return min(eval_losses[-patience:]) >= best_before
