"""The guide's four questions, answered from the user's flags or the data profile, mapped to its
three scenarios; an evaluation report, when given, can override the rule of thumb."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.advise.profile import Profile
from industry_expert.errors import ConfigError
from industry_expert.io import read_json_object

FRESH_CHANGES_PER_RUN = 1.0
FRESH_RECENT_SHARE = 0.25
MIN_HISTORY_DAYS = 7.0
"""An unchanged KB says 'stable' only after this much ingest history."""
SPECIALISED_SHARE = 0.10
ENOUGH_EXAMPLES = 500
MAX_DUPLICATE_SHARE = 0.10
SYSTEM_FOR = {"RAG": "rag", "fine-tuning": "fine-tuned", "both": "rag+fine-tuned"}
SCENARIOS = {
    "RAG": "answers need fresh or external data, traceable sources, or there is little training data",
    "fine-tuning": "precise, stable terminology and expression, with a good, growing training set",
    "both": "automated business flows: a tuned model that is also grounded in retrieved passages",
}

UNMEASURED_BOTH = (
    "not measured yet: train a grounded adapter on your KB (expert data from-kb --kb KB --raft --out "
    "raft.jsonl; expert finetune raft.jsonl --out ADAPTER --config configs/smollm2-cpu-raft.yaml), run "
    "expert eval QUESTIONS --kb KB --adapter ADAPTER --out DIR and pass --eval DIR: RAG + fine-tuned "
    "must beat RAG on your own questions before it is worth its cost (bench/results/grounded_adapter.md)"
)


@dataclass
class Finding:
    question: str
    answer: bool | None
    source: str  # "flag" | "profile" | "default" | "unknown"
    evidence: str


@dataclass
class Advice:
    recommendation: str
    scenario: str
    findings: list[Finding]
    reasons: list[str]
    rule_recommendation: str
    measured: dict[str, Any] | None = None
    profile: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fresh(p: Profile, flag: bool | None) -> Finding:
    q = "Do answers need external or frequently changing data?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user")
    kb = p.kb
    if kb is None:
        return Finding(q, None, "unknown", "no knowledge base given")
    if kb.documents == 0:
        return Finding(q, None, "unknown", "the knowledge base is empty: change rate unknown")
    history = (
        f"{kb.changed_per_run:.1f} documents changed per re-ingest over {kb.ingest_runs} ingests "
        f"in {kb.history_days:.1f} days"
    )
    if kb.ingest_runs > 1 and (
        kb.changed_per_run >= FRESH_CHANGES_PER_RUN or kb.history_days >= MIN_HISTORY_DAYS
    ):
        return Finding(q, kb.changed_per_run >= FRESH_CHANGES_PER_RUN, "profile", history)
    if kb.recent_file_share is not None:
        yes = kb.recent_file_share >= FRESH_RECENT_SHARE
        return Finding(
            q,
            yes,
            "profile",
            f"{100 * kb.recent_file_share:.0f}% of files changed in the last 30 days "
            f"(files span {kb.file_age_span_days:.0f} days)",
        )
    return Finding(
        q, None, "unknown", "too little ingest history and identical file times: change rate unknown"
    )


def _terminology(p: Profile, flag: bool | None) -> Finding:
    q = "Is precise, stable industry terminology and expression important?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user")
    if p.kb is None:
        return Finding(q, None, "unknown", "no knowledge base to measure the vocabulary")
    if p.kb.chunks == 0:
        return Finding(q, None, "unknown", "the knowledge base is empty: no vocabulary to measure")
    share = p.kb.specialised_term_share
    return Finding(
        q,
        share >= SPECIALISED_SHARE,
        "profile",
        f"{100 * share:.0f}% of the KB's terms are outside general English "
        f"(e.g. {', '.join(p.kb.top_specialised_terms[:6])})",
    )


def _enough_data(p: Profile, flag: bool | None) -> Finding:
    q = "Is there enough high-quality data to train on?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user")
    d = p.data
    if d is None:
        return Finding(q, False, "profile", "no training set given")
    dup = d.exact_duplicate_share + d.near_duplicate_share
    yes = d.examples >= ENOUGH_EXAMPLES and dup <= MAX_DUPLICATE_SHARE and d.empty_answers == 0
    return Finding(
        q,
        yes,
        "profile",
        f"{d.examples} training examples, {100 * dup:.0f}% duplicates, "
        f"{d.empty_answers} empty answers (threshold {ENOUGH_EXAMPLES} clean examples)",
    )


def _traceability(flag: bool | None) -> Finding:
    q = "Must answers be traceable to their sources?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user")
    return Finding(q, True, "default", "assumed for company knowledge (pass --no-traceability to drop it)")


def rule_of_thumb(
    fresh: Finding, terms: Finding, data: Finding, trace: Finding, business_flow: bool
) -> tuple[str, list[str]]:
    tuned = bool(terms.answer and data.answer)
    grounded = bool(fresh.answer or trace.answer)
    reasons = []
    if business_flow:
        reasons.append(
            "an automated business flow needs both the company's language and grounded, current facts"
        )
        return "both", reasons
    if tuned and grounded:
        reasons.append(f"fine-tuning pays off: {terms.evidence}; {data.evidence}")
        reasons.append(
            f"but answers must stay grounded: {fresh.evidence if fresh.answer else trace.evidence}"
        )
        return "both", reasons
    if tuned:
        reasons.append(f"stable, specialised terminology: {terms.evidence}")
        reasons.append(f"enough clean training data: {data.evidence}")
        reasons.append("no need for fresh data or source traceability")
        return "fine-tuning", reasons
    if fresh.answer:
        reasons.append(f"the data changes: {fresh.evidence}")
    if trace.answer:
        reasons.append(f"sources must be traceable: {trace.evidence}")
    if not data.answer:
        reasons.append(f"too little training data for fine-tuning: {data.evidence}")
    if terms.answer is False:
        reasons.append(f"general vocabulary: {terms.evidence}")
    return "RAG", reasons or ["RAG is the safe default: current, transparent and easy to correct"]


def load_eval_summary(eval_dir: str | Path) -> dict[str, Any]:
    """``summary.json`` of an ``expert eval`` run, checked; ConfigError (one line naming the file)
    when it is missing, not JSON, or not an evaluation summary."""
    path = Path(eval_dir) / "summary.json"
    summary = read_json_object(path, ConfigError)
    checks = (("summary", dict), ("comparisons", list), ("questions", int))
    for key, kind in checks:
        if not isinstance(summary.get(key), kind):
            raise ConfigError(
                f"{path}: not an 'expert eval' summary (field '{key}' missing or not a {kind.__name__})"
            )
    for system, row in summary["summary"].items():
        if not isinstance(row, dict) or not isinstance(row.get("correct"), int | float | None):
            raise ConfigError(f"{path}: summary.{system}.correct must be a number")
    return summary


def measured_winner(eval_dir: str | Path, recommended: str) -> dict[str, Any]:
    summary = load_eval_summary(eval_dir)
    acc = {s: v["correct"] for s, v in summary["summary"].items() if v.get("correct") is not None}
    if not acc:
        raise ConfigError(f"{Path(eval_dir) / 'summary.json'}: no system has a correctness score")
    best = max(acc, key=acc.__getitem__)
    target = SYSTEM_FOR[recommended]
    comp = next((c for c in summary["comparisons"] if {c["better"], c["than"]} == {best, target}), None)
    significant = bool(comp and comp["significant"] and best != target)
    return {
        "accuracy": acc,
        "winner": best,
        "recommended_system": target,
        "margin": acc[best] - acc.get(target, float("nan")) if target in acc else None,
        "significant": significant,
        "questions": summary["questions"],
        "comparison": comp,
    }


def _test(measured: dict[str, Any]) -> str:
    """``, exact McNemar p=0.031`` when the evaluation recorded the paired test, else nothing."""
    comp = measured.get("comparison") or {}
    return f", exact McNemar p={comp['p_value']:.2g}" if comp.get("p_value") is not None else ""


def advise(
    profile: Profile,
    fresh: bool | None = None,
    terminology: bool | None = None,
    enough_data: bool | None = None,
    traceability: bool | None = None,
    business_flow: bool = False,
    eval_dir: str | Path | None = None,
) -> Advice:
    findings = [
        _fresh(profile, fresh),
        _terminology(profile, terminology),
        _enough_data(profile, enough_data),
        _traceability(traceability),
    ]
    rule, reasons = rule_of_thumb(findings[0], findings[1], findings[2], findings[3], business_flow)
    final, measured = rule, None
    if rule == "both" and not eval_dir:
        reasons.append(UNMEASURED_BOTH)
    if eval_dir:
        measured = measured_winner(eval_dir, rule)
        acc = measured["accuracy"]
        if measured["recommended_system"] not in acc:
            reasons.append(
                f"the evaluation did not run the '{measured['recommended_system']}' system; "
                f"best measured: {measured['winner']} at {100 * acc[measured['winner']]:.0f}% correct"
            )
        elif measured["significant"] and measured["winner"] == "base":
            reasons.append(
                f"measured on {measured['questions']} questions: the base model alone scored best "
                f"({100 * acc['base']:.0f}% correct): neither the KB nor the adapter helped; check their data"
            )
        elif measured["significant"]:
            final = next(k for k, v in SYSTEM_FOR.items() if v == measured["winner"])
            reasons.append(
                f"measured on {measured['questions']} questions: {measured['winner']} answers "
                f"{100 * acc[measured['winner']]:.0f}% correctly vs {100 * acc[measured['recommended_system']]:.0f}% "
                f"for {measured['recommended_system']} (a significant margin{_test(measured)}): the measurement "
                "overrides the rule of thumb"
            )
        else:
            reasons.append(
                f"measured on {measured['questions']} questions: "
                + ", ".join(f"{s} {100 * v:.0f}%" for s, v in sorted(acc.items(), key=lambda kv: -kv[1]))
                + f" correct; {measured['recommended_system']} is the best or not measurably worse"
                f"{_test(measured)}, so the rule of thumb stands"
            )
    return Advice(final, SCENARIOS[final], findings, reasons, rule, measured, profile.to_dict())
