"""Per-model answer profiles: the settings of the answer check that depend on how a model writes.

A profile holds the support threshold of the citation check, the gate (``min_relevance``), the
extractive fallback (on/off, threshold) and the prompt size the model was measured with (passages
``k``, ``context_tokens``, answer ``max_tokens``) for one bundled model. Each was chosen on the design
corpora (the sample company and sqlite) and reported on held-out corpora by
``bench/answers_models.py`` (results: ``bench/results/answers_models.md``). A value the user sets
(config file, flag, ``AnswerSettings(...)``) always wins; a model outside the catalogue (a GGUF
path, ``hf:``, ``openai:``) gets ``DEFAULT``, today's shipped values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from industry_expert.config import AnswerSettings


@dataclass(frozen=True)
class AnswerProfile:
    """Answer-check settings for one model (names and meanings as in ``AnswerSettings``)."""

    name: str
    support_threshold: float = 0.6
    min_relevance: float = 0.25
    extractive_fallback: bool = True
    extractive_threshold: float = 0.59
    k: int = 5
    context_tokens: int | None = None
    max_tokens: int = 160


K, CONTEXT, ANSWER = 4, 768, 80
"""The prompt size every catalogue model was measured with (bench/answers_models.py ``RUN``): its
accuracy and its time to the first checked sentence hold for these values, so they are its
defaults (qwen2.5-1.5b: 9.5 s median to the first checked sentence on 2 quiet cores,
``bench/answers_models.py speed``)."""

TUNED = (
    "support_threshold",
    "min_relevance",
    "extractive_fallback",
    "extractive_threshold",
    "k",
    "context_tokens",
    "max_tokens",
)
"""The ``AnswerSettings`` fields a profile supplies when the user has not set them."""

DEFAULT = AnswerProfile("default")

PROFILES: dict[str, AnswerProfile] = {
    p.name: p
    for p in (
        AnswerProfile("smollm2", support_threshold=0.7, k=K, context_tokens=CONTEXT, max_tokens=ANSWER),
        AnswerProfile(
            "qwen2.5-0.5b",
            support_threshold=0.5,
            extractive_threshold=0.5,
            k=K,
            context_tokens=CONTEXT,
            max_tokens=ANSWER,
        ),
        AnswerProfile(
            "qwen2.5-1.5b",
            support_threshold=0.5,
            min_relevance=0.35,
            k=K,
            context_tokens=CONTEXT,
            max_tokens=ANSWER,
        ),
    )
}
"""Keyed by catalogue name (``models/catalog.py``); chosen by ``bench/answers_models.py`` on
kestrel + sqlite (20 questions each; the 1.5B: 10), reported on git, pylib, apache
(bench/results/answers_models.md, 2026-12-07)."""


def profile_for(model_id: str) -> AnswerProfile:
    """The profile of a generator id (``gguf:FILENAME``, with or without ``+lora:...``) or of a
    catalogue name; ``DEFAULT`` for any other model."""
    from industry_expert.models.catalog import CATALOG

    name = model_id.removeprefix("gguf:").split("+lora:")[0]
    for m in CATALOG.values():
        if name in (m.name, m.filename):
            return PROFILES.get(m.name, DEFAULT)
    return DEFAULT


def apply_profile(s: AnswerSettings, model_id: str) -> AnswerSettings:
    """``s`` with the model's profile values for every tuned field the user did not set."""
    p = asdict(profile_for(model_id))
    unset = {f: p[f] for f in TUNED if f not in s.model_fields_set}
    return s.model_copy(update=unset) if unset else s
