"""Does `expert finetune` at its defaults teach the bundled Qwen2.5-Coder-0.5B-Instruct new facts?
The same invented fact sets and general questions as bench/finetune_defaults.py (SmolLM2), with
`--base qwen2.5-0.5b` (the pulled GGUF dequantized once to fp32 for training). The adapter is
exported to a GGUF LoRA (`expert finetune export`) and every answer comes from llama.cpp on the
same Q4_K_M file `ask --model qwen2.5-0.5b` runs, base and tuned alike (greedy, no KB).

    IE_NUM_THREADS=1 nice -n 15 python bench/finetune_qwen_facts.py [--sets a12] [--report]

Pre-registered goal (issue 23): >= 0.75 of the held-out paraphrases right at defaults, general
accuracy within 5 points of the base. The CPU time of every stage (training subprocess, export,
answering) is recorded and stated in the results' header.

Per-base defaults (issue 23, part 3), written down before any of these runs: the defaults on a12
(20/24 facts, general66 48 -> 18/66) learn but forget. Candidates, trained on tune12 only (the set
bench/finetune_defaults.py tunes SmolLM2 on), all on the data as given (what `expert finetune DATA`
does; replay stays the user's `expert data mix`):

    auto                     the current defaults (LoRA r=16, alpha 32, q/k/v/o, lr 1e-3, >= 100 steps)
    auto@lr=0.0005           half the learning rate
    auto@lr=0.0002           a fifth
    auto@lr=0.0002+min_steps=150            a fifth, half as many steps again
    auto@lr=0.0002+target_modules=q_proj|...|down_proj   a fifth, LoRA on the MLP too (gate/up/down)

Rule: a candidate passes when tune12 held-out facts >= 18/24 and general66 >= base - 3 (within 5
points). Among passing ones: most facts, then most general66, then least CPU. If none passes, the
candidate with the largest min(facts / 18, general66 / (base - 3)) (the nearer shortfall), if it beats
the current defaults on that score; else the defaults stay. The chosen settings become
qwen2.5-0.5b's defaults (finetune/profiles.py) and only then run on a12 and b36, which are reported.

    python bench/finetune_qwen_facts.py --sets tune12 --variants auto,auto@lr=0.0005,...
    python bench/finetune_qwen_facts.py --sets a12,b36 --variants auto,<chosen>

Round 2, written after round 1's first three results and before any replay run on this base: at
every learning rate tried (1e-3, 5e-4, 2e-4) general66 fell to 14-21/66, the adapter answering
general questions with invented names ("The capital of Egypt is Mexolex"): no schedule or LoRA
setting on the data as given is near the goal. Candidates on tune12 with general examples mixed in
(`expert data mix --share 0.5`), at round 1's chosen settings: replay50 (the bundled general
answers) and selfreplay50 (the base's own answers to the same questions). Same rule, with round 1's
choice in place of `auto` as the one to beat. A replay winner's share becomes this base's
recommended mix (`expert finetune` says so when it trains this base on data without replay), its
other settings the base's defaults; mixing stays the user's step (`expert data mix`).
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path
from typing import Any

from _common import OUT, RESULTS, cached_answers, machine, write_results
from finetune_defaults import FACTS, MAX_TOKENS, _cli, _jsonl, general_sets, rate
from finetune_defaults import train as train_variant

BASE = "qwen2.5-0.5b"
TUNE = "tune12"
"""The only set a per-base default is chosen on."""
WORK = OUT / "finetune-qwen-facts"


def _cpu_s(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


MLP = "target_modules=q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj"


def label(variant: str) -> str:
    """A variant's name for a Markdown table (its '|'-joined target list would split the row)."""
    return variant.replace(MLP, "targets=attn+mlp")


def _cpu_record(key: str, seconds: float) -> None:
    """One CPU-time entry per stage, in its own file: runs over different variants go side by side."""
    (WORK / "cpu").mkdir(parents=True, exist_ok=True)
    path = WORK / "cpu" / f"{key}.json"
    old = json.loads(path.read_text())["cpu_s"] if path.is_file() else 0.0
    path.write_text(json.dumps({"cpu_s": round(old + seconds, 1)}))


def cpu_times() -> dict[str, float]:
    """Every stage's CPU seconds: the first runs' cpu.json, then one file per stage."""
    old = WORK / "cpu.json"
    cpu: dict[str, float] = json.loads(old.read_text()) if old.is_file() else {}
    for f in sorted((WORK / "cpu").glob("*.json")):
        cpu[f.stem] = json.loads(f.read_text())["cpu_s"]
    return cpu


def train(name: str, variant: str) -> Path:
    """The adapter for fact set ``name`` (the defaults with only the base changed, or a variant of
    bench/finetune_defaults.py: replay50, selfreplay, auto@lr=0.0002, ...), and its GGUF."""
    run = f"{name}-{variant}"
    out, gguf = WORK / run, WORK / f"{run}.gguf"
    if not (out / "metrics.json").is_file():
        c0 = _cpu_s(resource.RUSAGE_CHILDREN)
        train_variant(name, variant, WORK, BASE)
        _cpu_record(f"train_{run}", _cpu_s(resource.RUSAGE_CHILDREN) - c0)
    if not gguf.is_file():
        c0 = _cpu_s(resource.RUSAGE_CHILDREN)
        _cli(["finetune", "export", str(out), "--out", str(gguf)], 1800)
        _cpu_record(f"export_{run}", _cpu_s(resource.RUSAGE_CHILDREN) - c0)
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
    general = general_sets()
    for name, qs in {
        "base": general,
        **{f"base-{s}": {s: _jsonl(FACTS / s / "heldout.jsonl")} for s in sets},
    }.items():
        c0 = _cpu_s(resource.RUSAGE_SELF)
        answers(name, None, qs)
        _cpu_record(f"answer_{name}", _cpu_s(resource.RUSAGE_SELF) - c0)
    for s in sets:
        for v in variants:
            gguf = train(s, v)
            c0 = _cpu_s(resource.RUSAGE_SELF)
            answers(f"{s}-{v}", gguf, {**general, s: _jsonl(FACTS / s / "heldout.jsonl")})
            _cpu_record(f"answer_{s}-{v}", _cpu_s(resource.RUSAGE_SELF) - c0)


def _stop(schedule: dict[str, Any]) -> str:
    return (
        f", stopped early: weights of epoch {schedule['best_epoch']} kept"
        if schedule.get("stopped_early")
        else ""
    )


def report(sets: list[str], variants: list[str]) -> None:
    from industry_expert.evaluate.stats import mcnemar_exact

    base = json.loads((WORK / "answers-base.json").read_text())
    for s in sets:
        if (WORK / f"answers-base-{s}.json").is_file():
            base.update(json.loads((WORK / f"answers-base-{s}.json").read_text()))
    cpu, general = cpu_times(), general_sets()
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
                               "eval_losses": m["eval_losses"], "train_cpu_s": cpu.get(f"train_{s}-{v}", 0.0)}  # fmt: skip
        for k, qs in {**general, s: _jsonl(FACTS / s / "heldout.jsonl")}.items():
            ids = [q["id"] for q in qs]
            b, t = rate(base, k, ids), rate(done, k, ids)
            p = mcnemar_exact(b["per_question"], t["per_question"])
            row[k] = {"base": b, "tuned": t, "p": round(p, 4)}
            lines.append(
                f"| {s} | {label(v)} | {k} | {b['correct']}/{b['n']} | {t['correct']}/{t['n']} | {p:.3f} |"
            )
        rows.append(row)
    total = sum(cpu.values())
    tune = [r for r in rows if r["set"] == TUNE]
    choice = choose([r for r in tune if "replay" not in r["variant"]], "auto", "Round 1")
    if any("replay" in r["variant"] for r in tune) and choice["data"]:
        second = choose(tune, choice["data"]["chosen"], "Round 2 (with replay)")
        choice = {
            "text": choice["text"] + second["text"],
            "data": {"round1": choice["data"], "round2": second["data"]},
        }
    text = (
        f"Fine-tuning on {BASE} (Qwen2.5-Coder-0.5B-Instruct), invented fact sets of bench/facts. CPU "
        f"time: {total:.0f} s in all ({', '.join(f'{label(k)} {v:.0f} s' for k, v in cpu.items())}), 1 thread "
        "(IE_NUM_THREADS=1, nice 5-15) on 2 shared cores. Training: `expert finetune DATA "
        f"--base {BASE}`, fp32 on the dequantized GGUF; `auto` = the plain defaults before this base had its "
        "own (LoRA r=16, alpha 32, q/k/v/o, lr 1e-3, schedule auto: >= 100 steps, early stop); "
        "`@k=v` = those with k set to v; replay = `expert data mix` output (20% general examples). "
        "Answers: llama.cpp on the Q4_K_M GGUF, base vs + the exported GGUF LoRA, greedy, "
        f"`expert ask`'s path without a KB, max_tokens {MAX_TOKENS}. p: exact McNemar vs the base.\n\n"
        + choice["text"]
        + "".join(
            f"{r['set']}/{label(r['variant'])}: {r['steps']} steps ({r['epochs_done']} epochs"
            f"{_stop(r['schedule'])}), loss {r['loss_first_last'][0]:.2f} -> "
            f"{r['loss_first_last'][1]:.2f}, eval loss per epoch {r['eval_losses']}, train {r['train_s']:.0f} s "
            f"wall, peak RSS {r['peak_rss_mb']:.0f} MB\n\n"
            for r in rows
        )
        + "| set | variant | questions | base | tuned | p |\n|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + smollm2_rows(sets, variants)
    )
    text = text.replace("\n\n" + choice["text"], "\n\n" + choice["text"] + goal_lines(rows, choice))
    write_results(
        "finetune_qwen_facts",
        {"machine": machine(), "base": BASE, "cpu_s": cpu, "runs": rows, "choice": choice["data"]},
        text,
    )


def goal_lines(rows: list[dict[str, Any]], choice: dict[str, Any]) -> str:
    """The issue's goal on each reported set (not tune12) at the settings the rounds chose: facts >=
    0.75 and general66 within 5 points of the base."""
    data = choice.get("data") or {}
    chosen = [data.get("round1", data).get("chosen"), data.get("round2", {}).get("chosen")]
    out = []
    for r in rows:
        if r["set"] == TUNE or r["variant"] not in chosen:
            continue
        f, g = r[r["set"]]["tuned"], r["general66"]
        ok_f, ok_g = f["correct"] >= 0.75 * f["n"], g["tuned"]["correct"] >= g["base"]["correct"] - 3.3
        what = "the per-base defaults" if r["variant"] == chosen[0] else "with the recommended mix"
        out.append(
            f"- {r['set']}, {what} ({label(r['variant'])}): held-out facts {f['correct']}/{f['n']} "
            f"({'met' if ok_f else 'NOT met'}: >= 0.75), general66 {g['base']['correct']} -> "
            f"{g['tuned']['correct']}/66 ({'met' if ok_g else 'NOT met'}: within 5 points)"
        )
    return "**Goal on the reported sets** (issue 23):\n\n" + "\n".join(out) + "\n\n" if out else ""


def choose(rows: list[dict[str, Any]], reference: str, title: str) -> dict[str, Any]:
    """The rule of the module docstring, on the tune12 rows: pass = facts >= 0.75 and general66 within
    5 points of the base; the best passing one, else the nearest shortfall if it beats the defaults."""
    if not rows:
        return {"text": "", "data": None}
    g_base = rows[0]["general66"]["base"]["correct"]
    need_f, need_g = 0.75 * rows[0][TUNE]["tuned"]["n"], g_base - 0.05 * 66
    table, scored = [], []
    for r in rows:
        f, g = r[TUNE]["tuned"]["correct"], r["general66"]["tuned"]["correct"]
        cpu = r["train_cpu_s"]
        score = min(f / need_f, g / need_g)
        passes = f >= need_f and g >= need_g
        scored.append({"variant": r["variant"], "facts": f, "general66": g, "cpu_s": cpu, "score": round(score, 3),
                       "passes": passes})  # fmt: skip
        table.append(f"| {label(r['variant'])} | {r['steps']} ({r['epochs_done']}) | {f}/{r[TUNE]['tuned']['n']} | "
                     f"{g}/66 | {r['sample12']['tuned']['correct']}/12 | {cpu:.0f} | {'yes' if passes else 'no'} | "
                     f"{score:.3f} |")  # fmt: skip
    passing = [x for x in scored if x["passes"]]
    defaults = next((x for x in scored if x["variant"] == reference), None)
    if passing:
        best = max(passing, key=lambda x: (x["facts"], x["general66"], -x["cpu_s"]))
        why = "passes; the most facts among the passing ones"
    else:
        best = max(scored, key=lambda x: x["score"])
        if defaults and best["score"] <= defaults["score"]:
            best, why = (
                defaults,
                "none passes and none is nearer both goals than the defaults: the defaults stay",
            )
        else:
            why = "none passes; the nearest shortfall, nearer than the defaults'"
    text = (
        f"**{title}: per-base defaults, chosen on {TUNE} only** (rule in bench/finetune_qwen_facts.py, written before "
        f"the runs): pass = held-out facts >= {need_f:.0f}/{rows[0][TUNE]['tuned']['n']} and general66 >= "
        f"{need_g:.1f}/66 (base {g_base}/66, minus 5 points); score = min(facts / {need_f:.0f}, general66 / "
        f"{need_g:.1f}). Chosen: **{label(best['variant'])}** ({why}).\n\n"
        "| candidate | steps (epochs) | held-out facts | general66 | sample12 | train CPU s | passes | score |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(table) + "\n\n"
    )
    return {"text": text, "data": {"candidates": scored, "chosen": best["variant"], "why": why}}


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
