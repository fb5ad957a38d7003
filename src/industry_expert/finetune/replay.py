"""Replay: general-purpose examples mixed into fine-tuning data so that the model keeps what it knew.

``mix`` adds general examples until they make ``share`` of the result, drawn (seeded) from a
general set: by default the package's ``assets/general_replay.jsonl`` (64 short general questions
with correct answers, written for this project; none of them is in the sample's general
evaluation set ``examples/kestrel/finetune/general.jsonl``). A general example whose question is
already in the company data is left out. Each added example is marked ``"replay": true``.

``answers="model"`` (self-replay) keeps each replayed question but answers it with the base model
itself (greedy, through ``expert ask``'s path without a KB), so training asks the model to keep
saying what it already says instead of moving it toward another writer's answers (rehearsal on
self-generated data, as in Huang et al. 2024, "Mitigating Catastrophic Forgetting in Large Language
Models with Self-Synthesized Rehearsal").

Measured with the default schedule on invented fact sets (bench/results/finetune_defaults.md): the
default share 0.2 kept 66 general questions at 0.58 (base 0.65, 0.18-0.30 without replay); on
the tuning set 0.35 and 0.5 kept 0.58-0.59 but learned 7 and 1 of 24 held-out facts instead of 10.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from industry_expert.finetune.data import DataError, Example, load_examples

GENERAL_REPLAY = Path(__file__).resolve().parent / "assets" / "general_replay.jsonl"
DEFAULT_SHARE = 0.2
ANSWERS = ("given", "model")
SELF_MAX_TOKENS = 64
"""The base model's answers for self-replay: as long as a short general answer needs."""


@dataclass
class MixReport:
    out: str
    examples: int  # company examples kept
    replay: int  # general examples added
    share: float  # replay / (examples + replay), as written
    general: str  # the general set used
    general_available: int  # its examples not already in the company data
    repeats: int  # general examples used more than once (a small general set)
    answers: str = "given"  # "model": the replayed questions answered by the base model itself
    answered_by: str | None = None  # that base model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _asked(e: Example) -> str:
    return " ".join(m["content"] for m in e.messages if m["role"] == "user").strip()


def _question(e: Example) -> str:
    return _asked(e).lower()


def self_answered(general: list[Example], base: str) -> list[Example]:
    """``general`` with each answer replaced by ``base``'s own (greedy, ``expert ask``'s path
    without a KB, at most ``SELF_MAX_TOKENS``); a question it gives no answer to is left out."""
    from tqdm import tqdm

    from industry_expert.config import AnswerSettings
    from industry_expert.generate.grounded import ask
    from industry_expert.models.checkpoints import resolve_base
    from industry_expert.models.generators import load_generator

    gen = load_generator(f"hf:{resolve_base(base)}")
    settings = AnswerSettings(max_tokens=SELF_MAX_TOKENS)
    out = []
    for e in tqdm(general, desc=f"answering with {base}", unit="question", leave=False):
        answer = ask(_asked(e), None, gen, settings=settings).answer.strip()
        if answer:
            asked = [m for m in e.messages if m["role"] != "assistant"]
            out.append(Example([*asked, {"role": "assistant", "content": answer}], e.line, e.meta))
    return out


def mix(
    examples: list[Example], general: list[Example], share: float = DEFAULT_SHARE, seed: int = 0
) -> tuple[list[Example], int, int]:
    """The company examples plus replayed general ones (shuffled, seeded); returns the mixed
    list, how many general examples could be used, and how many were repeated."""
    if not 0 <= share < 1:
        raise DataError(f"replay share must be in [0, 1), got {share}")
    asked = {_question(e) for e in examples}
    pool = [e for e in general if _question(e) not in asked]
    want = round(share * len(examples) / (1 - share))
    if want and not pool:
        raise DataError("the general set has no example that is not already in the training data")
    rng = random.Random(seed)
    chosen: list[Example] = []
    while len(chosen) < want:
        batch = pool[:]
        rng.shuffle(batch)
        chosen += batch[: want - len(chosen)]
    replayed = [Example(e.messages, e.line, {**e.meta, "replay": True}) for e in chosen]
    mixed = examples + replayed
    rng.shuffle(mixed)
    return mixed, len(pool), max(0, len(chosen) - len(pool))


def mix_files(
    data: str | Path,
    out: str | Path,
    general: str | Path | None = None,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    answers: str = "given",
    base: str = "smollm2",
) -> MixReport:
    """Read ``data`` (any supported format), write the mixed set to ``out`` in chat format;
    ``answers="model"``: the replayed questions answered by ``base`` (the model to be tuned)."""
    if answers not in ANSWERS:
        raise DataError(f"replay answers must be one of {', '.join(ANSWERS)}, got {answers!r}")
    general_path = Path(general) if general else GENERAL_REPLAY
    examples = load_examples(data)
    pool = load_examples(general_path)
    mixed, available, repeats = mix(examples, pool, share, seed)
    if answers == "model":
        replayed = {_question(e) for e in mixed if e.meta.get("replay")}
        own = {_question(e): e for e in self_answered([e for e in pool if _question(e) in replayed], base)}
        mixed = [
            Example(own[_question(e)].messages, e.line, {**e.meta, "replay_answers": "model"})
            if e.meta.get("replay")
            else e
            for e in mixed
            if not e.meta.get("replay") or _question(e) in own
        ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for e in mixed:
            fh.write(json.dumps({"messages": e.messages, **e.meta}, ensure_ascii=False) + "\n")
    replay = len(mixed) - len(examples)
    return MixReport(
        str(out),
        len(examples),
        replay,
        round(replay / len(mixed), 4),
        str(general_path),
        available,
        repeats,
        answers,
        base if answers == "model" else None,
    )
