"""Answer quality with the bundled SmolLM2-135M on the sample questions: RAG (our grounded answers)
side by side with the model alone, in one run.

Accuracy = regex / key facts found in the answer (answerable questions). Citation correctness =
share of cited sources that are gold sources. Abstention = share of unanswerable questions answered
with "not covered"; false abstention = share of answerable ones."""

from __future__ import annotations

import statistics
import sys
import time

from _common import QUESTIONS, machine, sample_kb, write_results
from industry_expert.evaluate.metrics import answer_correct, source_matches
from industry_expert.evaluate.questions import load_questions
from industry_expert.generate.grounded import AskSettings, ask
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import load_generator

SETTINGS = AskSettings(k=4, max_tokens=80, context_tokens=1024)


def _mean(xs: list[float]) -> float:
    return statistics.mean(xs) if xs else float("nan")


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else None
    questions = load_questions(QUESTIONS)[:limit]
    gen = load_generator()
    kb = KnowledgeBase.open(sample_kb())
    rows, per_q = {}, []
    for system, kb_arg in (("model alone", None), ("RAG", kb)):
        acc, fabst, abst, cprec, cany, secs = [], [], [], [], [], []
        for q in questions:
            t0 = time.perf_counter()
            a = ask(q.question, kb_arg, gen, settings=SETTINGS)
            secs.append(time.perf_counter() - t0)
            if q.answerable:
                acc.append(float(answer_correct(a.answer, q.key_facts, q.regex) and not a.abstained))
                fabst.append(float(a.abstained))
            else:
                abst.append(float(a.abstained))
            if a.citations and q.answerable:
                gold = [any(source_matches(c.source, g) for g in q.gold_sources) for c in a.citations]
                cprec.append(sum(gold) / len(gold))
                cany.append(float(any(gold)))
            per_q.append(
                {
                    "system": system,
                    "id": q.id,
                    "type": q.type,
                    "answer": a.answer,
                    "abstained": a.abstained,
                    "cited": [c.source for c in a.citations],
                    "correct": answer_correct(a.answer, q.key_facts, q.regex),
                }
            )
        rows[system] = {
            "accuracy": _mean(acc),
            "citation_precision": _mean(cprec),
            "answers_citing_a_gold_source": _mean(cany),
            "abstention_unanswerable": _mean(abst),
            "false_abstention_answerable": _mean(fabst),
            "seconds_per_question": _mean(secs),
        }
    n_ans = sum(q.answerable for q in questions)
    head = (
        "| system | accuracy | citation precision | cites a gold source | abstains when unanswerable "
        "| false abstention | s/question |\n|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {s} | {r['accuracy']:.3f} | {r['citation_precision']:.3f} | "
        f"{r['answers_citing_a_gold_source']:.3f} | {r['abstention_unanswerable']:.3f} | "
        f"{r['false_abstention_answerable']:.3f} | {r['seconds_per_question']:.1f} |"
        for s, r in rows.items()
    ]
    text = (
        f"Answer quality, bundled SmolLM2-135M-Instruct Q4_1 (llama.cpp, 1 thread), {n_ans} answerable + "
        f"{len(questions) - n_ans} unanswerable sample questions\n\n{head}\n" + "\n".join(lines)
    )
    write_results(
        "answer_quality",
        {"machine": machine(), "settings": SETTINGS.__dict__, "results": rows, "per_question": per_q},
        text,
    )


if __name__ == "__main__":
    main()
