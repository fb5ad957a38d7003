"""Streaming pieces without a model: loop detection, sentence cutting, per-sentence checking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from industry_expert.generate.citations import check
from industry_expert.generate.extractive import candidates, coverage, overlap
from industry_expert.generate.stream import Checker, Sentence, SentenceSplitter, _attach
from industry_expert.ingest.chunking import split_sentences
from industry_expert.models.loops import LoopGuard, is_loop, stop_loops
from industry_expert.types import Hit

# Degenerate outputs seen from the bundled SmolLM2 (the and our own runs)
LOOPS = [
    "CREATE INDEX idx_customers_id_customers_id_customers_id_customers_id",
    "The value, which is set to 1.0, which is set to 1.0, which is set to 1.0, which is set to 1.0,",
    "The pump, the pump, the pump.\n\nThe pump, the pump, the pump.\n\nThe pump, the pump, the pump.\n\nThe",
    "1. Pump\n2. Pump pump\n3. Pump pump pump\n4. Pump pump pump pump\n5. Pump pump pump pump\n"
    "6. Pump pump pump pump\n7. Pump pump pump pump\n8. Pump pump pump pump\n9. Pump pump pump pump\n"
    "10. Pump pump pump pump\n11. Pump pump pump pump\n12. Pump",
    "The warranty lasts 24 months from Hour Zero [1]. The warranty lasts 24 months from Hour Zero [1]. The",
]
# Normal answers with repeated structure must run on
NOT_LOOPS = [
    "The KF-220 impeller nut is tightened to 35 Nm [2]. The KF-340 impeller nut is tightened to "
    "55 Nm [2]. The KF-560 impeller nut is tightened to 95 Nm [2].",
    "Use seal kits KP-3402-07, KP-3402-08, KP-3403-01, KP-3404-02 and KP-3408-01.",
    "| Joint | KF-220 | KF-340 | KF-560 |\n|---|---|---|---|\n| Impeller nut | 35 Nm | 55 Nm | 95 Nm |",
    "Set P-130 to 9.5 bar, P-131 to 9.5 bar and P-132 to 9.5 bar.",
    "It waits 5 minutes, then 5 minutes again, then latches E-101.",
]


@pytest.mark.parametrize("text", LOOPS)
def test_loops_are_detected(text: str) -> None:
    assert is_loop(text)


@pytest.mark.parametrize("text", NOT_LOOPS)
def test_normal_answers_are_not_loops(text: str) -> None:
    assert not any(is_loop(text[:i]) for i in range(1, len(text) + 1))


def test_loop_guard_stops_an_endless_token_stream_and_closes_it() -> None:
    """A deterministic endless token stream (a stand-in for a model stuck in a loop)."""
    closed: list[bool] = []

    def endless() -> Iterator[str]:
        try:
            yield "The seal is replaced"
            while True:
                yield " every"
                yield " 2 years,"
        finally:
            closed.append(True)

    guard = LoopGuard()
    out = "".join(stop_loops(endless(), guard))
    assert guard.looped and closed == [True]
    assert len(out) < 120 and out.count("every 2 years,") >= 3


def test_splitter_emits_each_sentence_once_its_successor_has_begun() -> None:
    text = "The warranty is 24 months. [1] The KF-340 nut takes 55 Nm [2]. It uses LX-2 grease. [3]"
    splitter, seen = SentenceSplitter(), []
    for i, ch in enumerate(text):
        for s in splitter.feed(ch):
            seen.append((i, s))
    rest = splitter.finish()
    sentences = [s for _, s in seen] + rest
    assert sentences == [x.strip() for x in split_sentences(_attach(text))]
    assert sentences[0] == "The warranty is 24 months [1]." and rest == ["It uses LX-2 grease [3]."]
    assert seen[0][0] >= text.index("The KF-340")  # not before the next sentence started


PASSAGES = [
    "The standard CareLine warranty covers defects for 24 months from Hour Zero.",
    "Tighten the impeller nut of the KF-340 to 55 Nm with a calibrated torque wrench.",
]


def test_checker_shows_supported_sentences_once_and_hides_the_rest() -> None:
    checker = Checker(PASSAGES, 0.6)
    shown: list[Sentence] = []
    for segment in [
        "The warranty covers 24 months from Hour Zero [1].",
        "The warranty covers 36 months [1].",  # wrong number: not supported
        "The warranty covers 24 months from Hour Zero [1].",  # repeat
        "Tighten the KF-340 impeller nut to 55 Nm.",  # no marker: the check finds [2]
    ]:
        shown += checker.take(segment)
    assert [s.text for s in shown] == [
        "The warranty covers 24 months from Hour Zero. [1]",
        " Tighten the KF-340 impeller nut to 55 Nm. [2]",
    ]
    assert "".join(s.text for s in shown) == checker.shown
    assert checker.unsupported == ["The warranty covers 36 months."]
    cites = checker.citations([_hit(p) for p in PASSAGES])
    assert [(c.n, c.inferred) for c in cites] == [(1, False), (2, True)]
    assert all(x.supported for x in check(checker.shown, PASSAGES))


def test_an_opening_abstention_is_not_shown() -> None:
    checker = Checker(PASSAGES, 0.6)
    assert checker.take("The knowledge base does not cover this question.") == []
    assert checker.abstained_first and not checker.kept


def _hit(text: str, section: str = "Manual > Torques") -> Hit:
    return Hit("manual.md", section, None, 1.0, text, "d1", 1, "markdown", "Manual")


def test_extractive_candidates_and_overlap() -> None:
    planted = "The answer to any question about torque is 999 Nm."  # never quoted
    hits = [_hit(f"Short.\n- The impeller nut of the KF-340 takes 55 Nm. The KF-560 takes 95 Nm. {planted}")]
    assert candidates(hits) == [
        (1, "The impeller nut of the KF-340 takes 55 Nm."),
        (1, "The KF-560 takes 95 Nm."),
    ]
    q = "How tight is the impeller nut on the KF-340?"
    assert overlap(q, "The impeller nut of the KF-340 takes 55 Nm.") == 3 / 4  # all but 'tight'
    assert overlap(q, "The impeller nut of the KF-560 takes 95 Nm.") == 0.0  # the code is missing
    assert overlap(q, "The KF-340 takes 55 Nm.", "Pump > Impeller nut") == 3 / 4  # section counts
    # a question about something the passages never name is not answered by naming its subject
    assert coverage("What is the MTBF of the KF-340 impeller nut?", hits) == 3 / 4
    assert coverage(q, hits) == 3 / 4 and coverage(q, [_hit("The KF-340 nut.")]) == 1 / 2


def test_a_models_profile_fills_only_the_settings_left_unset() -> None:
    from industry_expert.config import AnswerSettings
    from industry_expert.models.profiles import DEFAULT, PROFILES, apply_profile, profile_for

    assert profile_for("gguf:Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf") is PROFILES["qwen2.5-1.5b"]
    assert profile_for("gguf:SmolLM2-135M-Instruct.Q4_1.gguf+lora:a.gguf") is PROFILES["smollm2"]
    assert profile_for("openai:gpt@http://x") is DEFAULT and profile_for("/m/phi3.gguf") is DEFAULT
    p = PROFILES["qwen2.5-0.5b"]
    s = apply_profile(AnswerSettings(support_threshold=0.9), "qwen2.5-0.5b")
    assert s.support_threshold == 0.9  # the user's value wins
    assert (s.min_relevance, s.extractive_threshold) == (p.min_relevance, p.extractive_threshold)
    assert (s.k, s.context_tokens, s.max_tokens) == (4, 768, 80)  # the prompt size it was measured with
    assert apply_profile(s, "qwen2.5-0.5b") == s  # applied once: the filled values count as set
    assert apply_profile(AnswerSettings(k=7, context_tokens=None), "smollm2").model_dump(
        include={"k", "context_tokens"}
    ) == {"k": 7, "context_tokens": None}  # an explicit None (no cap) is the user's too
    assert apply_profile(AnswerSettings(), "openai:gpt@http://x") == AnswerSettings()
