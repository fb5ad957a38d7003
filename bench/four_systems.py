"""The four systems on the sample company's labelled questions: base model alone, RAG, fine-tuned
alone and RAG + fine-tuned, where "fine-tuned" is the adapter trained for grounded answering on
this KB (RAFT data from the sample's KB, reserved evaluation fifth excluded: bench/grounded_adapter.py
--stage own), with the facts-only adapter (bench/finetune_effect.py) reported beside it; paired
tests (exact McNemar) between every pair; the advisor's reading of the measurement.

    python bench/four_systems.py [--per-set N] [--part rag|grounded|facts|all]
    # N: a fixed subset (every unanswerable question plus answerable ones at an even stride, as in
    # bench/grounded_adapter.py); default all. Parts can run side by side; `all` reuses finished ones.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from _common import OUT, QUESTIONS, RESULTS, SAMPLE, gguf_of, machine, sample_kb, write_results
from answer_quality import SETTINGS, table
from grounded_adapter import OWN_EXAMPLES
from industry_expert.advise.profile import Profile, profile_data, profile_kb
from industry_expert.advise.rules import advise
from industry_expert.evaluate.run import EvalReport, compare, evaluate, no_nan

GROUNDED = OUT / "grounded" / f"adapter-kestrel-{OWN_EXAMPLES}"
FACTS = OUT / "kestrel-lora"


def subset(per_set: int | None) -> Path:
    """The question file: all questions, or the fixed subset bench/grounded_adapter.py uses."""
    if not per_set:
        return QUESTIONS
    from answer_fallback import question_sets

    ids = {q.id for q in question_sets(per_set, per_set)["kestrel"]}
    path = OUT / "four-systems" / f"questions-{per_set}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    text = "".join(x + "\n" for x in lines if x.strip() and json.loads(x)["id"] in ids)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # keeps its time when unchanged
        path.write_text(text, encoding="utf-8")
    return path


def line(c: dict) -> str:
    return (
        f"- {c['better']} vs {c['than']}: {c['difference']:+.3f} accuracy "
        f"(95% CI {c['ci'][0]:+.3f} .. {c['ci'][1]:+.3f}; exact McNemar p={c['p_value']:.3g}, "
        f"{c['only_better']} vs {c['only_than']} questions right only by one)"
        f"{' significant' if c['significant'] else ''}"
    )


PARTS = {  # part -> (output folder, adapter, systems); each part can run in its own process
    "rag": (OUT / "four-systems-rag", None, ["base", "rag"]),
    "grounded": (OUT / "four-systems-grounded-gguf", GROUNDED, ["fine-tuned", "rag+fine-tuned"]),
    "facts": (OUT / "four-systems-facts-gguf", FACTS, ["fine-tuned", "rag+fine-tuned"]),
}
"""Each adapter runs as its GGUF LoRA on the bundled Q4_1 model (`expert finetune export`), the
engine and weights the base and RAG systems use, so only the adapter differs between systems."""
RENAME = {"facts": {"fine-tuned": "fine-tuned (facts)", "rag+fine-tuned": "rag+fine-tuned (facts)"}}


def run_part(part: str, questions: Path, kb: Path) -> EvalReport:
    """One part's systems on the questions, or its finished summary for the same questions."""
    out, adapter, systems = PARTS[part]
    done = out / "summary.json"
    if done.is_file() and done.stat().st_mtime > questions.stat().st_mtime:
        d = json.loads(done.read_text(encoding="utf-8"))
        n = sum(1 for x in questions.read_text(encoding="utf-8").splitlines() if x.strip())
        if d["questions"] == n and d["systems"] == systems:
            nan = float("nan")  # summary.json writes NaN (a metric that does not apply) as null
            d["summary"] = {
                x: {k: nan if v is None else v for k, v in m.items()} for x, m in d["summary"].items()
            }
            return EvalReport(**d)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        how = "bench/grounded_adapter.py --stage own" if part == "grounded" else "bench/finetune_effect.py"
        raise SystemExit(f"run {how} first (it trains {adapter})")
    a = str(gguf_of(adapter)) if adapter else None
    return evaluate(questions, out, str(kb), a, settings=SETTINGS, progress=True, only=systems)


def merged(reports: dict[str, EvalReport], names: list[str] | None = None) -> tuple[EvalReport, list[dict]]:
    """One report over the parts (systems renamed where two adapters share a name), every pair of
    systems compared on the same questions; ``names``: keep only these systems."""
    per_question: list[dict] = []
    summary: dict = {}
    ci: dict = {}
    counts: dict = {}
    for part, r in reports.items():
        ren = RENAME.get(part, {})
        for row in map(
            json.loads, (PARTS[part][0] / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
        ):
            per_question.append({**row, "system": ren.get(row["system"], row["system"])})
        for sys_name in r.systems:
            summary[ren.get(sys_name, sys_name)] = r.summary[sys_name]
            ci[ren.get(sys_name, sys_name)] = r.ci[sys_name]
            counts[ren.get(sys_name, sys_name)] = r.counts[sys_name]
    systems = [x for x in summary if names is None or x in names]
    correct = {x: [q["correct"] for q in per_question if q["system"] == x] for x in systems}
    comps = [compare(b, a, correct[b], correct[a]) for i, a in enumerate(systems) for b in systems[i + 1 :]]
    rag = reports["rag"]
    report = EvalReport(
        str(OUT / "four-systems"),
        rag.questions,
        systems,
        {},
        {x: summary[x] for x in systems},
        {x: ci[x] for x in systems},
        {x: counts[x] for x in systems},
        rag.retrieval,
        comps,
        rag.model,
        str(GROUNDED),
        rag.settings,
        rag.retrieval_n,
    )
    return report, [q for q in per_question if q["system"] in systems]


def write_eval(report: EvalReport, per_question: list[dict], out: Path) -> None:
    """The merged evaluation in `expert eval`'s own files (what `expert advise --eval` reads)."""
    from industry_expert.evaluate.report import write_html

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(no_nan(report.to_dict()), indent=2) + "\n", encoding="utf-8")
    (out / "per_question.jsonl").write_text(
        "".join(json.dumps(no_nan(q)) + "\n" for q in per_question), encoding="utf-8"
    )
    write_html(out / "report.html", report, per_question)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=0, help="a fixed subset of this many questions (0: all)")
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all", help="run one part (then: --part all)")
    args = ap.parse_args()
    kb = sample_kb()
    questions = subset(args.per_set)
    if args.part != "all":
        run_part(args.part, questions, kb)
        return
    reports = {part: run_part(part, questions, kb) for part in PARTS}
    four, four_rows = merged(reports, ["base", "rag", "fine-tuned", "rag+fine-tuned"])
    everything, rows = merged(reports)
    write_eval(four, four_rows, OUT / "four-systems")  # the advisor reads the four systems
    write_eval(everything, rows, OUT / "four-systems-all")
    shutil.copy(OUT / "four-systems-all" / "report.html", RESULTS / "four_systems_report.html")
    advice = advise(
        Profile(profile_kb(kb), profile_data(SAMPLE / "finetune" / "train.jsonl")),
        eval_dir=OUT / "four-systems",
    )
    names = {"fine-tuned": "fine-tuned (grounded)", "rag+fine-tuned": "rag+fine-tuned (grounded)"}
    text = (
        f"Four systems on {four.questions} sample questions"
        f"{f' (a fixed subset: {questions.name})' if questions != QUESTIONS else ''} (SmolLM2-135M; "
        "'fine-tuned' = the grounded adapter trained on the sample KB's RAFT data, reserved fifth "
        f"excluded, {OWN_EXAMPLES} examples (bench/grounded_adapter.py --stage own); the facts adapter "
        "(bench/finetune_effect.py) beside it; each adapter as a GGUF LoRA on the bundled Q4_1 model, "
        "the engine and weights of the base and RAG systems (`expert finetune export`); "
        f"settings as `expert ask`: answer k={SETTINGS.answer.k}, "
        f"max_tokens={SETTINGS.answer.max_tokens}, context_tokens={SETTINGS.answer.context_tokens})\n\n"
        + table(everything, everything.systems)
        .replace("| fine-tuned |", f"| {names['fine-tuned']} |")
        .replace("| rag+fine-tuned |", f"| {names['rag+fine-tuned']} |")
        + "\n\nRetrieval: "
        + ", ".join(f"{k} {v:.3f}" for k, v in four.retrieval.items())
        + "\n\n"
        + "\n".join(
            line(
                {**c, "better": names.get(c["better"], c["better"]), "than": names.get(c["than"], c["than"])}
            )
            for c in everything.comparisons
        )
        + f"\n\nAdvisor (reads the four systems, grounded adapter as 'fine-tuned'): {advice.recommendation} - "
        + "; ".join(advice.reasons)
    )
    write_results(
        "four_systems",
        {
            "machine": machine(),
            "questions": "all" if questions == QUESTIONS else questions.name,
            "report": no_nan(everything.to_dict()),
            "advice": advice.to_dict(),
        },
        text,
    )


if __name__ == "__main__":
    main()
