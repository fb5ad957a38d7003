"""Does fine-tuning teach the bundled SmolLM2-135M the sample company's facts? LoRA on
examples/kestrel/finetune/train.jsonl (configs/smollm2-cpu-lora.yaml), then base vs tuned, model
alone, on held-out paraphrased questions about the same facts and on general-knowledge questions."""

from __future__ import annotations

import json
import sys

from _common import OUT, ROOT, SAMPLE, machine, write_results
from industry_expert.evaluate.metrics import answer_correct
from industry_expert.finetune.base import resolve_base
from industry_expert.finetune.lora import finetune
from industry_expert.finetune.settings import FinetuneSettings
from industry_expert.models.generators import load_generator

FT = SAMPLE / "finetune"
SYSTEM = "You are Kestrel Fluidworks' service assistant."


def _questions(name: str) -> list[dict]:
    return [json.loads(line) for line in (FT / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _score(gen, questions: list[dict]) -> tuple[float, list[dict]]:  # type: ignore[no-untyped-def]
    rows = []
    for q in questions:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q["question"]}]
        answer = "".join(gen.stream(messages, max_tokens=48))
        rows.append(
            {"id": q["id"], "answer": answer, "correct": answer_correct(answer, q["key_facts"], q["regex"])}
        )
    return sum(r["correct"] for r in rows) / len(rows), rows


def main() -> None:
    adapter = OUT / "kestrel-lora"
    settings = FinetuneSettings.load(ROOT / "configs" / "smollm2-cpu-lora.yaml")
    if "--reuse" not in sys.argv or not (adapter / "metrics.json").is_file():
        report = finetune(FT / "train.jsonl", adapter, settings, progress=True).to_dict()
    else:
        report = json.loads((adapter / "metrics.json").read_text())
    held, general = _questions("heldout.jsonl"), _questions("general.jsonl")
    base = load_generator(f"hf:{resolve_base(settings.base)}")
    tuned = load_generator(None, adapter=str(adapter))
    results, per_q = {}, {}
    for name, gen in (("base", base), ("fine-tuned", tuned)):
        h, hrows = _score(gen, held)
        g, grows = _score(gen, general)
        results[name] = {"heldout_accuracy": h, "general_accuracy": g}
        per_q[name] = hrows + grows
    text = (
        f"Fine-tuning effect, SmolLM2-135M-Instruct, LoRA r={settings.lora_r}, {report['steps']} steps "
        f"({report['seconds']:.0f} s, {report['tokens_per_s']:.0f} trained tokens/s, peak RSS "
        f"{report['peak_rss_mb']:.0f} MB); loss {report['losses'][0]:.2f} -> {report['losses'][-1]:.2f}, "
        f"eval loss per epoch {report['eval_losses']}\n\n"
        f"| model (alone, no retrieval) | held-out paraphrased company questions ({len(held)}) | "
        f"general questions ({len(general)}) |\n|---|---|---|\n"
        + "\n".join(
            f"| {n} | {r['heldout_accuracy']:.3f} | {r['general_accuracy']:.3f} |" for n, r in results.items()
        )
    )
    write_results(
        "finetune_effect",
        {
            "machine": machine(),
            "settings": settings.to_dict(),
            "train": report,
            "results": results,
            "per_question": per_q,
        },
        text,
    )


if __name__ == "__main__":
    main()
