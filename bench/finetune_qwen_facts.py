"""Does `expert finetune` at its defaults teach the bundled Qwen2.5-Coder-0.5B-Instruct new facts?
The same invented fact sets and general questions as bench/finetune_defaults.py (SmolLM2), with
`--base qwen2.5-0.5b` (the pulled GGUF dequantized once to fp32 for training). The adapter is
exported to a GGUF LoRA (`expert finetune export`) and every answer comes from llama.cpp on the
same Q4_K_M file `ask --model qwen2.5-0.5b` runs, base and tuned alike (greedy, no KB).

    IE_NUM_THREADS=1 nice -n 15 python bench/finetune_qwen_facts.py [--sets a12] [--report]

Pre-registered goal (issue 23): >= 0.75 of the held-out paraphrases right at defaults, general
accuracy within 5 points of the base. The CPU time of every stage (training subprocess, export,
answering) is recorded and stated in the results' header.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path
from typing import Any

from _common import OUT, RESULTS, cached_answers, machine, write_results
from finetune_defaults import FACTS, MAX_TOKENS, _cli, _jsonl, general_sets, rate

BASE = "qwen2.5-0.5b"
WORK = OUT / "finetune-qwen-facts"


def _cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _data(name: str, variant: str) -> Path:
    """auto: the set as it is; replay: mixed with 20% general examples (`expert data mix`)."""
    data = FACTS / name / "train.jsonl"
    if variant == "auto":
        return data
    mixed = WORK / f"{name}-{variant}.jsonl"
    if not mixed.is_file():
        _cli(["data", "mix", str(data), "--out", str(mixed)], 900)
    return mixed


def train(name: str, variant: str, cpu: dict[str, float]) -> Path:
    """The adapter for fact set ``name`` at the defaults (only the base changed), and its GGUF."""
    run = f"{name}-{variant}"
    out, gguf = WORK / run, WORK / f"{run}.gguf"
    if not (out / "metrics.json").is_file():
        print(f"training {run} on {BASE} ...", flush=True)
        c0 = _cpu_s(resource.RUSAGE_CHILDREN)
        r = _cli(
            ["finetune", str(_data(name, variant)), "--out", str(out), "--base", BASE, "--overwrite"], 14400
        )
        cpu[f"train_{run}"] = round(_cpu_s(resource.RUSAGE_CHILDREN) - c0, 1)
        (out / "wall.json").write_text(json.dumps({"wall_s": r["wall_s"], "cpu_s": cpu[f"train_{run}"]}))
    if not gguf.is_file():
        c0 = _cpu_s(resource.RUSAGE_CHILDREN)
        _cli(["finetune", "export", str(out), "--out", str(gguf)], 1800)
        cpu[f"export_{run}"] = round(_cpu_s(resource.RUSAGE_CHILDREN) - c0, 1)
    return gguf


def answers(model: str, adapter: Path | None, questions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every question's answer by llama.cpp on the Q4_K_M base (+ the GGUF LoRA), cached."""

    def load() -> Any:
        from industry_expert.models.checkpoints import check_adapter_base
        from industry_expert.models.generators import load_generator

        if adapter:
            check_adapter_base(BASE, adapter)
        return load_generator(BASE, str(adapter) if adapter else None)

    return cached_answers(WORK / f"answers-{model}.json", load, questions, MAX_TOKENS, model)


def run(sets: list[str], variants: list[str]) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    cpu_file = WORK / "cpu.json"
    cpu: dict[str, float] = json.loads(cpu_file.read_text()) if cpu_file.is_file() else {}
    general = general_sets()
    c0 = _cpu_s(resource.RUSAGE_SELF)
    answers("base", None, {**general, **{s: _jsonl(FACTS / s / "heldout.jsonl") for s in sets}})
    cpu["answer_base"] = cpu.get("answer_base", 0.0) + round(_cpu_s(resource.RUSAGE_SELF) - c0, 1)
    cpu_file.write_text(json.dumps(cpu))
    for s in sets:
        for v in variants:
            gguf = train(s, v, cpu)
            cpu_file.write_text(json.dumps(cpu))
            c0 = _cpu_s(resource.RUSAGE_SELF)
            answers(f"{s}-{v}", gguf, {**general, s: _jsonl(FACTS / s / "heldout.jsonl")})
            key = f"answer_{s}" if v == "auto" else f"answer_{s}-{v}"
            cpu[key] = cpu.get(key, 0.0) + round(_cpu_s(resource.RUSAGE_SELF) - c0, 1)
            cpu_file.write_text(json.dumps(cpu))


def _stop(schedule: dict[str, Any]) -> str:
    return (
        f", stopped early: weights of epoch {schedule['best_epoch']} kept"
        if schedule.get("stopped_early")
        else ""
    )


def report(sets: list[str], variants: list[str]) -> None:
    from industry_expert.evaluate.stats import mcnemar_exact

    base = json.loads((WORK / "answers-base.json").read_text())
    cpu = json.loads((WORK / "cpu.json").read_text())
    rows, lines = [], []
    for s, v in [(s, v) for s in sets for v in variants]:
        if (
            not (WORK / f"answers-{s}-{v}.json").is_file()
            or not (WORK / f"{s}-{v}" / "metrics.json").is_file()
        ):
            continue  # not finished yet
        done = json.loads((WORK / f"answers-{s}-{v}.json").read_text())
        m = json.loads((WORK / f"{s}-{v}" / "metrics.json").read_text())
        row: dict[str, Any] = {"set": s, "variant": v, "steps": m["steps"], "epochs_done": m["epochs_done"],
                               "schedule": m["schedule"], "train_s": m["seconds"],
                               "peak_rss_mb": m["peak_rss_mb"], "loss_first_last": [m["losses"][0], m["losses"][-1]],
                               "eval_losses": m["eval_losses"]}  # fmt: skip
        for k, qs in {**general_sets(), s: _jsonl(FACTS / s / "heldout.jsonl")}.items():
            ids = [q["id"] for q in qs]
            b, t = rate(base, k, ids), rate(done, k, ids)
            p = mcnemar_exact(b["per_question"], t["per_question"])
            row[k] = {"base": b, "tuned": t, "p": round(p, 4)}
            lines.append(f"| {s} | {v} | {k} | {b['correct']}/{b['n']} | {t['correct']}/{t['n']} | {p:.3f} |")
        rows.append(row)
    total = sum(cpu.values())
    text = (
        f"Fine-tuning at defaults on {BASE} (Qwen2.5-Coder-0.5B-Instruct), invented fact sets of "
        f"bench/facts. CPU time: {total:.0f} s in all ({', '.join(f'{k} {v:.0f} s' for k, v in cpu.items())}), "
        "1 thread (IE_NUM_THREADS=1, nice 15) on 2 shared, busy cores. Training: `expert finetune DATA "
        f"--base {BASE}` (defaults: LoRA r=16, lr 1e-3, schedule auto), fp32 on the dequantized GGUF; "
        "replay: the same on `expert data mix` output (20% general examples). "
        "Answers: llama.cpp on the Q4_K_M GGUF, base vs + the exported GGUF LoRA, greedy, "
        f"`expert ask`'s path without a KB, max_tokens {MAX_TOKENS}. p: exact McNemar.\n\n"
        + "".join(
            f"{r['set']}/{r['variant']}: {r['steps']} steps ({r['epochs_done']} epochs"
            f"{_stop(r['schedule'])}), loss {r['loss_first_last'][0]:.2f} -> "
            f"{r['loss_first_last'][1]:.2f}, eval loss per epoch {r['eval_losses']}, train {r['train_s']:.0f} s "
            f"wall, peak RSS {r['peak_rss_mb']:.0f} MB\n\n"
            for r in rows
        )
        + "| set | variant | questions | base | tuned | p |\n|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + smollm2_rows(sets, variants)
    )
    write_results(
        "finetune_qwen_facts", {"machine": machine(), "base": BASE, "cpu_s": cpu, "runs": rows}, text
    )


def smollm2_rows(sets: list[str], variants: list[str]) -> str:
    """The same sets and variants on SmolLM2-135M (bench/results/finetune_defaults.json), side by side."""
    path = RESULTS / "finetune_defaults.json"
    if not path.is_file():
        return ""
    data = json.loads(path.read_text())
    base, lines = data["base"], []
    for r in data["runs"]:
        if r["set"] in sets and r["variant"] in variants:
            for k in ("general66", "sample12", "heldout"):
                b = base[r["set"] if k == "heldout" else k]
                lines.append(f"| {r['set']} | {r['variant']} | {k} | {b['correct']}/{b['n']} | "
                             f"{r[k]['correct']}/{r[k]['n']} | {r[k]['vs_base_p']:.3f} |")  # fmt: skip
    return (
        "\n\nSide by side: SmolLM2-135M-Instruct at the same defaults (bench/results/finetune_defaults.md; "
        "its answers came from transformers on the fp32 checkpoint, not llama.cpp):\n\n"
        "| set | variant | questions | base | tuned | p |\n|---|---|---|---|---|---|\n" + "\n".join(lines)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="a12")
    ap.add_argument("--variants", default="auto", help="auto (the data as it is), replay (`expert data mix`)")
    ap.add_argument("--report", action="store_true", help="Only write the results from the cache.")
    args = ap.parse_args()
    sets, variants = args.sets.split(","), args.variants.split(",")
    if not args.report:
        run(sets, variants)
    report(sets, variants)


if __name__ == "__main__":
    main()
