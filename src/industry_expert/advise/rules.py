"""The guide's four questions, answered from the user's flags or the data profile, mapped to its
three scenarios; an evaluation report, when given, can override the rule of thumb.

Every finding and reason comes twice: for the terminal (``evidence``, ``reasons``: flags, commands
and raw figures) and in plain words for the web page (``plain``, ``plain_reasons``: no flags, and
no figure that means nothing yet, such as a change rate over a few minutes of history)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.advise.profile import DataProfile, KBProfile, Profile
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
UNMEASURED_BOTH_PLAIN = (
    "not measured yet: a model fine-tuned on your documents must answer your own questions better "
    "than the documents alone before it is worth its cost; whoever runs the server can train one and "
    "measure it"
)
NO_HISTORY = "not enough ingest history yet to tell how often your documents change"
SAID_BY_USER = "you said so"
Why = tuple[str, str]
"""One reason: (terminal text, plain words)."""


@dataclass
class Finding:
    question: str
    answer: bool | None
    source: str  # "flag" | "profile" | "default" | "unknown"
    evidence: str
    plain: str = ""  # the evidence in plain words, for the web page


@dataclass
class Advice:
    recommendation: str
    scenario: str
    findings: list[Finding]
    reasons: list[str]
    rule_recommendation: str
    measured: dict[str, Any] | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    plain_reasons: list[str] = field(default_factory=list)  # the reasons in plain words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fresh(p: Profile, flag: bool | None) -> Finding:
    q = "Do answers need external or frequently changing data?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user", SAID_BY_USER)
    kb = p.kb
    if kb is None:
        return Finding(q, None, "unknown", "no knowledge base given", "no knowledge base to look at")
    if kb.documents == 0:
        return Finding(q, None, "unknown", "the knowledge base is empty: change rate unknown", NO_HISTORY)
    history = (
        f"{kb.changed_per_run:.1f} documents changed per re-ingest over {kb.ingest_runs} ingests "
        f"in {kb.history_days:.1f} days"
    )
    if kb.ingest_runs > 1 and (
        kb.changed_per_run >= FRESH_CHANGES_PER_RUN or kb.history_days >= MIN_HISTORY_DAYS
    ):
        yes = kb.changed_per_run >= FRESH_CHANGES_PER_RUN
        return Finding(q, yes, "profile", history, _history_plain(kb))
    if kb.recent_file_share is not None:
        share = f"{100 * kb.recent_file_share:.0f}% of files changed in the last 30 days"
        return Finding(
            q,
            kb.recent_file_share >= FRESH_RECENT_SHARE,
            "profile",
            f"{share} (files span {kb.file_age_span_days:.0f} days)",
            share.replace("of files", "of your files"),
        )
    return Finding(
        q,
        None,
        "unknown",
        "too little ingest history and identical file times: change rate unknown",
        NO_HISTORY,
    )


def _history_plain(kb: KBProfile) -> str:
    """The change rate only where the history is long enough for a rate to mean something."""
    if kb.history_days < MIN_HISTORY_DAYS:
        if kb.changed_per_run > 0:
            return f"some documents were added or removed, but there is {NO_HISTORY}"
        return NO_HISTORY
    per = round(kb.changed_per_run)
    rate = f"about {per} document{'' if per == 1 else 's'}" if per else "almost no documents"
    return f"{rate} changed at each update ({kb.ingest_runs} updates over {kb.history_days:.0f} days)"


def _terminology(p: Profile, flag: bool | None) -> Finding:
    q = "Is precise, stable industry terminology and expression important?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user", SAID_BY_USER)
    if p.kb is None:
        return Finding(
            q, None, "unknown", "no knowledge base to measure the vocabulary", "no knowledge base to look at"
        )
    if p.kb.chunks == 0:
        empty = "the knowledge base is empty: no vocabulary to measure"
        return Finding(
            q, None, "unknown", empty, "the knowledge base is empty: there are no words to look at"
        )
    share = p.kb.specialised_term_share
    examples = ", ".join(p.kb.top_specialised_terms[:6])
    return Finding(
        q,
        share >= SPECIALISED_SHARE,
        "profile",
        f"{100 * share:.0f}% of the KB's terms are outside general English (e.g. {examples})",
        f"{100 * share:.0f}% of the words in your documents are not everyday English"
        + (f" (for example {examples})" if examples else ""),
    )


def _enough_data(p: Profile, flag: bool | None) -> Finding:
    q = "Is there enough high-quality data to train on?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user", SAID_BY_USER)
    d = p.data
    if d is None:
        return Finding(
            q,
            False,
            "profile",
            "no training set given",
            "no training examples (questions with answers) given",
        )
    dup = d.exact_duplicate_share + d.near_duplicate_share
    yes = d.examples >= ENOUGH_EXAMPLES and dup <= MAX_DUPLICATE_SHARE and d.empty_answers == 0
    return Finding(
        q,
        yes,
        "profile",
        f"{d.examples} training examples, {100 * dup:.0f}% duplicates, "
        f"{d.empty_answers} empty answers (threshold {ENOUGH_EXAMPLES} clean examples)",
        _data_plain(d, dup),
    )


def _data_plain(d: DataProfile, dup: float) -> str:
    repeated = f"{100 * dup:.0f}% of them repeated" if dup else "none repeated"
    return (
        f"{d.examples} training examples (questions with answers), {repeated}, "
        f"{d.empty_answers or 'none'} with an empty answer; fine-tuning needs at least {ENOUGH_EXAMPLES} clean ones"
    )


def _traceability(flag: bool | None) -> Finding:
    q = "Must answers be traceable to their sources?"
    if flag is not None:
        return Finding(q, flag, "flag", "stated by the user", SAID_BY_USER)
    return Finding(
        q,
        True,
        "default",
        "assumed for company knowledge (pass --no-traceability to drop it)",
        "assumed, as answers about company knowledge should show where they come from",
    )


def _because(cli: str, plain: str, f: Finding) -> Why:
    return f"{cli}: {f.evidence}", f"{plain}: {f.plain}"


def rule_of_thumb(
    fresh: Finding, terms: Finding, data: Finding, trace: Finding, business_flow: bool
) -> tuple[str, list[Why]]:
    """The guide's scenario and its reasons, each as (terminal text, plain words)."""
    tuned = bool(terms.answer and data.answer)
    grounded = bool(fresh.answer or trace.answer)
    if business_flow:
        flow = "an automated business flow needs both the company's language and grounded, current facts"
        return "both", [(flow, flow)]
    if tuned and grounded:
        ground = fresh if fresh.answer else trace
        return "both", [
            (
                f"fine-tuning pays off: {terms.evidence}; {data.evidence}",
                f"fine-tuning pays off: {terms.plain}; {data.plain}",
            ),
            _because(
                "but answers must stay grounded", "but answers must stay tied to your documents", ground
            ),
        ]
    if tuned:
        return "fine-tuning", [
            _because("stable, specialised terminology", "your documents use many specialised terms", terms),
            _because("enough clean training data", "there is enough clean training data", data),
            ("no need for fresh data or source traceability",) * 2,
        ]
    reasons = []
    if fresh.answer:
        reasons.append(_because("the data changes", "your documents change", fresh))
    if trace.answer:
        reasons.append(_because("sources must be traceable", "answers must show their sources", trace))
    if not data.answer:
        reasons.append(_because("too little training data for fine-tuning", "too little training data", data))
    if terms.answer is False:
        reasons.append(_because("general vocabulary", "your documents use mostly everyday words", terms))
    safe = "RAG is the safe default: current, transparent and easy to correct"
    return "RAG", reasons or [(safe, safe)]


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


def _measured_reason(m: dict[str, Any], rule: str) -> tuple[str, Why]:
    """What the evaluation says about the rule's system: the final recommendation and why."""
    acc, target, winner, n = m["accuracy"], m["recommended_system"], m["winner"], m["questions"]
    if target not in acc:
        return rule, (
            f"the evaluation did not run the '{target}' system; "
            f"best measured: {winner} at {100 * acc[winner]:.0f}% correct",
            f"the evaluation did not try '{target}'; the best it measured was {winner}, "
            f"with {100 * acc[winner]:.0f}% correct answers",
        )
    if m["significant"] and winner == "base":
        return rule, (
            f"measured on {n} questions: the base model alone scored best "
            f"({100 * acc['base']:.0f}% correct): neither the KB nor the adapter helped; check their data",
            f"measured on {n} of your questions: the model alone did best ({100 * acc['base']:.0f}% "
            "correct): neither the documents nor the fine-tuning helped, so their data needs a look",
        )
    if m["significant"]:
        final = next(k for k, v in SYSTEM_FOR.items() if v == winner)
        return final, (
            f"measured on {n} questions: {winner} answers "
            f"{100 * acc[winner]:.0f}% correctly vs {100 * acc[target]:.0f}% "
            f"for {target} (a significant margin{_test(m)}): the measurement "
            "overrides the rule of thumb",
            f"measured on {n} of your questions: {winner} answered {100 * acc[winner]:.0f}% correctly, "
            f"{target} {100 * acc[target]:.0f}%, a difference too large to be chance: the measurement "
            "overrides the rule of thumb",
        )
    scores = ", ".join(f"{s} {100 * v:.0f}%" for s, v in sorted(acc.items(), key=lambda kv: -kv[1]))
    return rule, (
        f"measured on {n} questions: {scores} correct; {target} is the best or not measurably worse"
        f"{_test(m)}, so the rule of thumb stands",
        f"measured on {n} of your questions: {scores} correct; {target} did best, or worse only by "
        "what chance can explain, so the rule of thumb stands",
    )


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
    rule, why = rule_of_thumb(findings[0], findings[1], findings[2], findings[3], business_flow)
    final, measured = rule, None
    if rule == "both" and not eval_dir:
        why.append((UNMEASURED_BOTH, UNMEASURED_BOTH_PLAIN))
    if eval_dir:
        measured = measured_winner(eval_dir, rule)
        final, reason = _measured_reason(measured, rule)
        why.append(reason)
    reasons, plain = [w[0] for w in why], [w[1] for w in why]
    return Advice(final, SCENARIOS[final], findings, reasons, rule, measured, profile.to_dict(), plain)
