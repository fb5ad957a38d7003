"""Does the reranking stage change the answers? RAG on all sample questions with the shipped
retrieval (fusion + MaxSim rerank of the top 10) and with the fusion alone (`retrieve.rerank:
none`), everything else at `expert ask`'s defaults; paired exact McNemar on correctness.

    python bench/rerank_answers.py
"""

from __future__ import annotations

import json
from pathlib import Path

from _common import OUT, QUESTIONS, machine, sample_kb, write_results
from answer_quality import table
from industry_expert.config import Settings
from industry_expert.evaluate.run import evaluate
from industry_expert.evaluate.stats import mcnemar_exact

RUNS = {"rag, fusion alone": "none", "rag, fusion + rerank (shipped)": "auto"}


def correct(out: Path) -> list[int]:
    rows = [json.loads(x) for x in (out / "per_question.jsonl").read_text(encoding="utf-8").splitlines()]
    return [int(r["correct"]) for r in sorted(rows, key=lambda r: r["id"]) if r["system"] == "rag"]


def main() -> None:
    reports = {}
    for name, rerank in RUNS.items():
        s = Settings.from_dict({"retrieve": {"rerank": rerank}})
        reports[name] = evaluate(
            QUESTIONS, OUT / f"rerank-answers-{rerank}", str(sample_kb()), settings=s, only=["rag"]
        )
    (a, ra), (b, rb) = reports.items()
    xa, xb = (correct(OUT / f"rerank-answers-{RUNS[n]}") for n in (a, b))
    p = mcnemar_exact(xa, xb)
    lines = [
        f"Answers on {ra.questions} sample questions, RAG at `expert ask`'s defaults, retrieval with and without the rerank\n"
    ]
    for name, rep in reports.items():
        lines += [f"### {name}\n", table(rep, ["rag"]), ""]
    lines.append(
        f"Correct: {sum(xa)} vs {sum(xb)} of {len(xa)}; right only by one: {sum(x > y for x, y in zip(xa, xb))} "
        f"(fusion alone) vs {sum(y > x for x, y in zip(xa, xb))} (with rerank); exact McNemar p={p:.3g}."
    )
    write_results(
        "rerank_answers",
        {"machine": machine(), "correct": {a: xa, b: xb}, "p": p,
         "summaries": {n: r.summary["rag"] for n, r in reports.items()}},
        "\n".join(lines),
    )  # fmt: skip


if __name__ == "__main__":
    main()
