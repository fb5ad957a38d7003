"""The four systems on the sample company's 99 labelled questions: base model alone, RAG, fine-tuned
alone, RAG + fine-tuned (the LoRA adapter from bench/finetune_effect.py), with the advisor's reading."""

from __future__ import annotations

import shutil

from _common import OUT, QUESTIONS, RESULTS, SAMPLE, machine, sample_kb, write_results
from answer_quality import SETTINGS, table
from industry_expert.advise.profile import Profile, profile_data, profile_kb
from industry_expert.advise.rules import advise
from industry_expert.evaluate.run import evaluate, no_nan


def main() -> None:
    adapter = OUT / "kestrel-lora"
    if not (adapter / "adapter_config.json").is_file():
        raise SystemExit("run bench/finetune_effect.py first (it trains bench/out/kestrel-lora)")
    kb = sample_kb()
    out = OUT / "four-systems"
    report = evaluate(QUESTIONS, out, str(kb), str(adapter), settings=SETTINGS, progress=True)
    shutil.copy(out / "report.html", RESULTS / "four_systems_report.html")
    advice = advise(Profile(profile_kb(kb), profile_data(SAMPLE / "finetune" / "train.jsonl")), eval_dir=out)
    comps = "\n".join(
        f"- {c['better']} vs {c['than']}: {c['difference']:+.3f} accuracy "
        f"(95% CI {c['ci'][0]:+.3f} .. {c['ci'][1]:+.3f}; exact McNemar p={c['p_value']:.3g}, "
        f"{c['only_better']} vs {c['only_than']} questions right only by one)"
        f"{' significant' if c['significant'] else ''}"
        for c in report.comparisons
    )
    retrieval = ", ".join(f"{k} {v:.3f}" for k, v in report.retrieval.items())
    text = (
        f"Four systems on {report.questions} sample questions (SmolLM2-135M; adapter: LoRA from "
        f"bench/finetune_effect.py; settings as `expert ask`: answer k={SETTINGS.answer.k}, "
        f"max_tokens={SETTINGS.answer.max_tokens}, context_tokens={SETTINGS.answer.context_tokens})\n\n"
        + table(report, report.systems)
        + f"\n\nRetrieval: {retrieval}\n\n{comps}\n\nAdvisor: {advice.recommendation} - "
        + "; ".join(advice.reasons)
    )
    write_results(
        "four_systems",
        {"machine": machine(), "report": no_nan(report.to_dict()), "advice": advice.to_dict()},
        text,
    )


if __name__ == "__main__":
    main()
