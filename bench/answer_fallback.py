"""Extractive fallback: does quoting the best passage sentence, when no sentence of the model's
answer passes the citation check, raise correctness without lowering abstention on unanswerable
questions?

    python bench/answer_fallback.py [--per-set 30] [--per-test-set 20] [--kb NAME=DIR ...]

One RAG run per question (bundled SmolLM2, fallback off) records the model's checked answer and
the best extractive candidate (generate/extractive.py) with its score. Variants are then scored
offline with the same metrics as `expert eval`: RAG alone, and RAG + fallback at a threshold t,
triggered either only when the model's sentences all fail the check ("unsupported") or also when
the model itself abstains ("any"). The threshold and trigger are CHOSEN on the sample company
(kestrel: highest correctness whose abstention on unanswerable questions is not below RAG's) and
REPORTED on the public corpora (git, sqlite), which played no part in the choice.
Subset per set: every unanswerable question plus answerable ones at an even stride.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from _common import DATA, OUT, QUESTIONS, ROOT, ingest_when_free, machine, write_results
from industry_expert.config import AnswerSettings, RetrieveSettings
from industry_expert.evaluate.metrics import answer_correct
from industry_expert.evaluate.questions import Question, load_questions
from industry_expert.evaluate.run import score_answer
from industry_expert.evaluate.stats import mcnemar_exact, proportion_ci
from industry_expert.generate.citations import is_abstention
from industry_expert.generate.extractive import Extract, best_extract, extractive_text
from industry_expert.generate.grounded import ask
from industry_expert.kb import KnowledgeBase
from industry_expert.models.generators import load_generator
from industry_expert.types import Answer, Citation, Hit

SETTINGS = AnswerSettings(k=4, max_tokens=80, context_tokens=1024, extractive_fallback=False)
DEFAULTS = AnswerSettings(extractive_fallback=False)
"""``--defaults``: the held-out sets again with `expert ask`'s own settings, threshold as shipped."""
DEV, TESTS = "kestrel", ("git", "sqlite")
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(66)]
TRIGGERS = ("unsupported", "any")
sys.path.insert(0, str(ROOT / "bench" / "corpora"))


def question_sets(per_dev: int, per_test: int) -> dict[str, list[Question]]:
    from fetch import questions_path

    paths = {DEV: QUESTIONS, **{n: questions_path(n) for n in TESTS}}
    out = {}
    for name, path in paths.items():
        per_set = per_dev if name == DEV else per_test
        qs = load_questions(path)
        unans = [q for q in qs if not q.answerable]
        ans = [q for q in qs if q.answerable]
        stride = max(1, len(ans) // max(1, per_set - len(unans)))
        out[name] = unans + ans[::stride][: max(0, per_set - len(unans))]
    return out


def kb_for(name: str, given: dict[str, str]) -> Path:
    if name in given:
        return Path(given[name])
    if name == DEV:
        src = DATA
    else:
        from fetch import fetch

        src = fetch(name)
    return ingest_when_free(src, OUT / f"{name}-kb")


def run_set(name: str, qs: list[Question], kb_path: Path, gen, tag: str = "") -> list[dict]:  # type: ignore[no-untyped-def]
    """One RAG answer per question (cached per question under bench/out: an interrupted run
    resumes) and the best extractive candidate (always recomputed: it is cheap)."""
    cache = OUT / f"answer_fallback{tag}" / f"{name}.jsonl"
    return answer_rows(qs, kb_path, lambda: gen, DEFAULTS if tag else SETTINGS, cache, name)


def cached_answers(cache: Path) -> dict[str, dict]:
    """The answers already in a cache file, by question id."""
    if not cache.is_file():
        return {}
    return {d["id"]: d for d in map(json.loads, cache.read_text(encoding="utf-8").splitlines())}


def answer_rows(qs: list[Question], kb_path: Path, gen, settings, cache: Path, label: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """``ask`` each question over ``kb_path`` unless ``cache`` (one JSON line per answer, appended
    as they come: an interrupted run resumes) has it; ``gen()`` gives the generator when one is
    needed. Each row: the question, the answer and the best extractive candidate (recomputed)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = cached_answers(cache)
    rows = []
    with KnowledgeBase.open(kb_path) as kb, cache.open("a", encoding="utf-8") as log:
        for i, q in enumerate(qs, start=1):
            if q.id in done:
                a = _load(done[q.id])
            else:
                a = ask(q.question, kb, gen(), settings=settings)
                log.write(json.dumps({"id": q.id, "answer": a.to_dict()}) + "\n")
                log.flush()
                print(
                    f"{label} {i}/{len(qs)} {q.id} abst={a.abstained} {a.timings['total_s']:.1f}s", flush=True
                )
            found = best_extract(q.question, a.passages, kb.embed) if a.passages else None
            rows.append({"q": q, "answer": a, "extract": found})
    return rows


def _load(d: dict) -> Answer:
    a = dict(d["answer"])
    a["passages"] = [Hit(**{k: v for k, v in p.items() if k != "n"}) for p in a["passages"]]
    a["citations"] = [Citation(**c) for c in a["citations"]]
    return Answer(**a)


def variant(row: dict, t: float | None, trigger: str) -> Answer:
    """The answer RAG + fallback gives at threshold ``t`` (None: RAG alone)."""
    a: Answer = row["answer"]
    found: Extract | None = row["extract"]
    model_called = bool(a.raw_answer)
    triggered = a.abstained and model_called and (trigger == "any" or not is_abstention(a.raw_answer))
    if t is None or not triggered or found is None or found.score < t:
        return a
    v = copy.copy(a)
    hit = a.passages[found.n - 1]
    v.answer, v.abstained, v.extractive = extractive_text(found), False, True
    v.citations = [Citation(found.n, hit.source, hit.section, hit.page, found.quote, round(found.score, 3))]
    return v


def metrics(rows: list[dict], t: float | None, trigger: str) -> dict:
    scored = [score_answer(r["q"], variant(r, t, trigger)) for r in rows]
    ans = [s for r, s in zip(rows, scored) if r["q"].answerable]
    unans = [s for r, s in zip(rows, scored) if not r["q"].answerable]

    def mean(xs: list[float]) -> float:
        xs = [x for x in xs if x == x]
        return sum(xs) / len(xs) if xs else float("nan")

    correct = [s["correct"] for s in scored]
    return {
        "n": len(rows),
        "n_unanswerable": len(unans),
        "correct": mean(correct),
        "correct_ci": list(proportion_ci(correct)),
        "correct_list": correct,
        "false_abstention": mean([s["false_abstention"] for s in ans]),
        "abstention_unanswerable": mean([s["abstention"] for s in unans]),
        "citation_precision": mean([s["citation_precision"] for s in ans]),
        "extractive": sum(variant(r, t, trigger).extractive for r in rows),
    }


def choose(rows: list[dict]) -> tuple[float, str]:
    """Threshold and trigger with the highest correctness whose abstention on unanswerable
    questions is not below RAG's (ties: the higher, more conservative threshold)."""
    base = metrics(rows, None, "unsupported")["abstention_unanswerable"]
    best = (-1.0, 0.0, "unsupported")
    for trigger in TRIGGERS:
        for t in THRESHOLDS:
            m = metrics(rows, t, trigger)
            if m["abstention_unanswerable"] >= base and (m["correct"], t) > best[:2]:
                best = (m["correct"], t, trigger)
    return best[1], best[2]


def candidate_quality(rows: list[dict]) -> dict:
    """How often the best candidate holds the answer, among answerable questions RAG missed."""
    missed = [r for r in rows if r["q"].answerable and r["answer"].abstained and r["extract"]]
    good = [answer_correct(r["extract"].quote, r["q"].key_facts, r["q"].regex) for r in missed]
    return {"rag_abstained_answerable": len(missed), "best_candidate_has_answer": sum(good)}


def row_line(name: str, label: str, m: dict) -> str:
    lo, hi = m["correct_ci"]
    return (
        f"| {name} | {label} | {m['n']} | {m['correct']:.3f} [{lo:.2f}-{hi:.2f}] | "
        f"{m['false_abstention']:.3f} | {m['abstention_unanswerable']:.3f} ({m['n_unanswerable']}) | "
        f"{_rate(m['citation_precision'])} | {m['extractive']} |"
    )


def _rate(x: float) -> str:
    """A rate to 3 decimals; 'n/a' where nothing was there to rate (no citation at all)."""
    return "n/a" if x != x else f"{x:.3f}"


def held_out_at_defaults(args: argparse.Namespace, given: dict[str, str]) -> None:
    """The held-out sets at `expert ask`'s defaults (k=5, whole context, 160 tokens) with the
    shipped threshold: nothing is chosen here."""
    sets = {n: qs for n, qs in question_sets(args.per_set, args.per_test_set).items() if n in TESTS}
    gen = load_generator()
    t = AnswerSettings().extractive_threshold
    rows = {n: run_set(n, qs, kb_for(n, given), gen, "_defaults") for n, qs in sets.items()}
    lines = [
        "| set | system | n | correct [95% CI] | false abstention | abstains when unanswerable (n) | "
        "citation precision | extractive answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    results = {}
    for name, rs in rows.items():
        rag, fb = metrics(rs, None, "unsupported"), metrics(rs, t, "unsupported")
        results[name] = {
            "rag": rag,
            "fallback": fb,
            "mcnemar_p": mcnemar_exact(fb["correct_list"], rag["correct_list"]),
        }
        lines += [row_line(name, "RAG", rag), row_line(name, "RAG + fallback", fb)]
    text = (
        f"Extractive fallback on the held-out corpora at `expert ask`'s defaults (k=5, whole context, "
        f"<= 160 answer tokens), shipped threshold {t:.2f} (chosen by `bench/answer_fallback.py` on the "
        "sample only).\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(f"- {n}: McNemar exact p = {r['mcnemar_p']:.3f}" for n, r in results.items())
    )
    data = {"machine": machine(), "settings": DEFAULTS.to_dict(), "threshold": t, "results": results}
    write_results("answer_fallback_defaults", data, text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=30, help="questions from the sample (choice)")
    ap.add_argument("--per-test-set", type=int, default=20, help="questions from each held-out set")
    ap.add_argument("--kb", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--only", help="run only this set (answers are cached; the report needs all)")
    ap.add_argument("--defaults", action="store_true", help="held-out sets at `expert ask` defaults")
    args = ap.parse_args()
    if args.defaults:
        return held_out_at_defaults(args, dict(x.split("=", 1) for x in args.kb))
    given = dict(x.split("=", 1) for x in args.kb)
    sets = question_sets(args.per_set, args.per_test_set)
    gen = load_generator()
    t0 = time.perf_counter()
    if args.only:
        run_set(args.only, sets[args.only], kb_for(args.only, given), gen)
        return
    rows = {name: run_set(name, qs, kb_for(name, given), gen) for name, qs in sets.items()}
    t, trigger = choose(rows[DEV])
    lines = [
        "| set | system | n | correct [95% CI] | false abstention | abstains when unanswerable (n) | "
        "citation precision | extractive answers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    results = {}
    for name in sets:
        rag, fb = metrics(rows[name], None, trigger), metrics(rows[name], t, trigger)
        p = mcnemar_exact(fb["correct_list"], rag["correct_list"])
        results[name] = {"rag": rag, "fallback": fb, "mcnemar_p": p, **candidate_quality(rows[name])}
        role = "choice" if name == DEV else "held out"
        lines += [
            row_line(f"{name} ({role})", "RAG", rag),
            row_line(f"{name} ({role})", "RAG + fallback", fb),
        ]
    text = (
        f"Extractive fallback (bundled SmolLM2-135M Q4_1, {machine()['threads']} thread, k=4, prompt <= 1024 "
        f"tokens, <= 80 answer tokens). Threshold {t:.2f} and trigger '{trigger}' chosen on {DEV} only; "
        f"{', '.join(TESTS)} are held out. {time.perf_counter() - t0:.0f} s in all.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(
            f"- {n}: McNemar exact p = {r['mcnemar_p']:.3f}; RAG abstained on {r['rag_abstained_answerable']} "
            f"answerable questions, the best candidate sentence held the answer for {r['best_candidate_has_answer']}"
            for n, r in results.items()
        )
    )
    per_question = [
        {
            "set": name,
            "id": r["q"].id,
            "answerable": r["q"].answerable,
            "rag_answer": r["answer"].answer,
            "raw_answer": r["answer"].raw_answer,
            "extract": None if r["extract"] is None else r["extract"].__dict__,
        }
        for name, rs in rows.items()
        for r in rs
    ]
    write_results(
        "answer_fallback",
        {
            "machine": machine(),
            "settings": SETTINGS.to_dict(),
            "retrieve": RetrieveSettings().to_dict(),
            "threshold": t,
            "trigger": trigger,
            "results": results,
            "per_question": per_question,
        },
        text,
    )


if __name__ == "__main__":
    main()
