"""Answer quality with the bundled SmolLM2-135M on all sample questions: RAG (grounded answers with
checked citations) side by side with the model alone, in one run (`expert eval` without an adapter).

Accuracy = regex / key facts in the answer (unanswerable: abstained). Citation precision = cited
passages from a gold source or containing the answer. Abstention on unanswerable questions, false
abstention on answerable ones."""

from __future__ import annotations

import os
import shutil

from _common import OUT, QUESTIONS, RESULTS, machine, sample_kb, write_results
from industry_expert.config import Settings
from industry_expert.evaluate.run import evaluate, no_nan

SETTINGS = Settings.load(os.environ.get("IE_CONFIG"))
"""The settings `expert ask` uses: the defaults, or the file named by IE_CONFIG (as for the CLI)."""
COLUMNS = [
    ("correct", "accuracy"),
    ("citation_precision", "citation precision"),
    ("citation_recall", "citation recall"),
    ("abstention", "abstains when unanswerable"),
    ("false_abstention", "false abstention"),
    ("faithfulness", "model sentences supported"),
    ("latency_s", "s/answer"),
]


def table(report, systems: list[str]) -> str:  # type: ignore[no-untyped-def]
    def cell(s: str, k: str) -> str:
        v = report.summary[s][k]
        if v != v:
            return "n/a"
        if k == "latency_s":
            return f"{v:.1f}"
        n = report.counts[s][k]
        if k == "correct":
            lo, hi = report.ci[s]["correct"]
            return f"{v:.3f} [{lo:.2f}-{hi:.2f}] n={n}"
        return f"{v:.3f} n={n}"

    head = "| system | " + " | ".join(t for _, t in COLUMNS) + " |\n|" + "---|" * (len(COLUMNS) + 1)
    return (
        head
        + "\n"
        + "\n".join(f"| {s} | " + " | ".join(cell(s, k) for k, _ in COLUMNS) + " |" for s in systems)
    )


def main() -> None:
    out = OUT / "answer-quality"
    report = evaluate(QUESTIONS, out, str(sample_kb()), None, settings=SETTINGS, progress=True)
    shutil.copy(out / "report.html", RESULTS / "answer_quality_report.html")
    c = report.comparisons[0]
    a = SETTINGS.answer
    text = (
        f"Answers on {report.questions} sample questions, bundled SmolLM2-135M-Instruct Q4_1 (llama.cpp, "
        f"{machine()['threads']} thread), with the settings `expert ask` uses: k={a.k}, "
        f"prompt <= {a.context_tokens or 'the context window'} tokens, <= {a.max_tokens} answer tokens "
        f"(all settings in the JSON); 95% Wilson intervals in brackets, n = questions scored\n\n"
        + table(report, report.systems)
        + f"\n\n{c['better']} - {c['than']}, accuracy: {c['difference']:+.3f} (95% CI {c['ci'][0]:+.3f} .. "
        f"{c['ci'][1]:+.3f}; exact McNemar p={c['p_value']:.3g}, right only by one: {c['only_better']} vs "
        f"{c['only_than']}). Full per-question results: answer_quality_report.html."
    )
    write_results(
        "answer_quality",
        {"machine": machine(), "settings": SETTINGS.to_dict(), "report": no_nan(report.to_dict())},
        text,
    )


if __name__ == "__main__":
    main()
