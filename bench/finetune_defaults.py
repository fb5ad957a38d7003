"""Do `expert finetune DATA --out DIR` defaults learn on small data, and does replay keep what the
model knew? On the invented fact sets of bench/facts (build.py): for each set, the old fixed
schedule (3 epochs, the defaults before the auto schedule), the defaults (auto schedule), and the
defaults on the data mixed with general examples (`expert data mix`, replay); each adapter answers
the set's held-out paraphrases and two general-question sets through `expert ask`'s path without a
KB (greedy). Training runs the real CLI in a subprocess; every adapter and every model's answers are
cached under bench/out/finetune-defaults, so an interrupted run resumes.

    python bench/finetune_defaults.py [--sets tune12,a12,b36,c90] [--variants fixed,auto,replay,replay35,replay50,selfreplay]
                                      [--only-train] [--report]

tune12 is the only set any default was chosen on; a12, b36 and c90 are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import OUT, ROOT, SAMPLE, cached_answers, machine, write_results

FACTS = ROOT / "bench" / "facts"
WORK = OUT / "finetune-defaults"
EXPERT = str(Path(sys.executable).with_name("expert"))
GENERAL = {"general66": FACTS / "general.jsonl", "sample12": SAMPLE / "finetune" / "general.jsonl"}
OLD_DEFAULTS = {"schedule": "fixed", "epochs": 3}  # every other setting was the same before 0538f28
MAX_TOKENS = 48
RELATIONS = ["codename", "engineer", "plant", "part", "warranty", "extension"]
TRAIN_TIMEOUT = 7200


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _cli(args: list[str], timeout: int) -> dict[str, Any]:
    env = {**os.environ, "IE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    p = subprocess.run([EXPERT, *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode:
        raise SystemExit(f"expert {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return {**json.loads(p.stdout), "wall_s": round(time.perf_counter() - t0, 1)}


def train(name: str, variant: str, work: Path = WORK, base: str | None = None) -> Path:
    """The adapter of (set, variant), trained once through the CLI and cached under ``work``;
    ``base``: a catalogue name passed as ``--base`` (None: the default base, SmolLM2)."""
    out = work / f"{name}-{variant}"
    if (out / "metrics.json").is_file() and (out / "wall.json").is_file():
        return out
    data, args = FACTS / name / "train.jsonl", ["--base", base] if base else []
    variant, _, tweaks = variant.partition("@")  # replay@lr=0.0005: the defaults with lr 0.0005
    if tweaks:  # several joined by '+': replay@lora_r=4+lora_alpha=8; a list joined by '|': a|b
        cfg = work / f"{name}-{variant}@{tweaks}.yaml"
        kvs = [kv.split("=", 1) for kv in tweaks.split("+")]
        cfg.write_text(
            "finetune:\n"
            + "".join(f"  {k}: {'[' + ', '.join(v.split('|')) + ']' if '|' in v else v}\n" for k, v in kvs)
        )
        args += ["--config", str(cfg)]
    if variant == "fixed":
        cfg = work / "old-defaults.yaml"
        cfg.write_text("finetune:\n" + "".join(f"  {k}: {v}\n" for k, v in OLD_DEFAULTS.items()))
        args += ["--config", str(cfg)]
    elif variant.startswith(("replay", "selfreplay")):  # replay: share 0.2; replay50: share 0.5
        mixed = work / f"{name}-{variant}.jsonl"  # the same mix for every tweak of the variant
        own = variant.startswith("self")  # selfreplay: the base model answers the replayed questions
        pct = variant.removeprefix("self")[6:]
        share = ["--share", str(int(pct) / 100)] if pct else []
        answered = ["--answers", "model", *(["--base", base] if base else [])] if own else []
        if not mixed.is_file():
            _cli(["data", "mix", str(data), "--out", str(mixed), *share, *answered], 1800)
        data = mixed
    elif variant != "auto":
        raise SystemExit(f"unknown variant {variant}")
    print(f"training {name}/{variant}{'@' + tweaks if tweaks else ''} ...", flush=True)
    r = _cli(["finetune", str(data), "--out", str(out), "--overwrite", *args], TRAIN_TIMEOUT)
    (out / "wall.json").write_text(json.dumps({"wall_s": r["wall_s"]}))
    return out


def answers(model: str, adapter: Path | None, questions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every question's answer by one model (cached per model, resumable per question): SmolLM2 in
    transformers (fp32), alone or with ``adapter``."""

    def load() -> Any:
        from industry_expert.finetune.base import resolve_base
        from industry_expert.models.generators import load_generator

        if adapter:
            return load_generator(None, adapter=str(adapter))
        return load_generator(f"hf:{resolve_base('smollm2')}")

    return cached_answers(WORK / f"answers-{model}.json", load, questions, MAX_TOKENS, model)


def rate(done: dict[str, Any], qset: str, ids: list[str]) -> dict[str, Any]:
    from industry_expert.evaluate.stats import wilson_ci

    hits = [int(done[f"{qset}/{i}"]["correct"]) for i in ids]
    lo, hi = wilson_ci(sum(hits), len(hits))
    return {"correct": sum(hits), "n": len(hits), "accuracy": round(sum(hits) / len(hits), 4),
            "ci95": [round(lo, 4), round(hi, 4)], "per_question": hits}  # fmt: skip


def general_sets() -> dict[str, list[dict[str, Any]]]:
    return {k: _jsonl(p) for k, p in GENERAL.items()}


def run(sets: list[str], variants: list[str], only_train: bool) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    general = general_sets()
    if not only_train:  # base answers cached per question set: runs over different sets go side by side
        answers("base", None, general)
        for s in sets:
            answers(f"base-{s}", None, {s: _jsonl(FACTS / s / "heldout.jsonl")})
    for s in sets:
        for v in variants:
            adapter = train(s, v)
            if not only_train:
                answers(f"{s}-{v}", adapter, {**general, s: _jsonl(FACTS / s / "heldout.jsonl")})


def _row(s: str, v: str, base: dict[str, Any]) -> dict[str, Any] | None:
    from industry_expert.evaluate.stats import mcnemar_exact

    out, cache = WORK / f"{s}-{v}", WORK / f"answers-{s}-{v}.json"
    if not (out / "metrics.json").is_file() or not cache.is_file():
        return None
    done, m = json.loads(cache.read_text()), json.loads((out / "metrics.json").read_text())
    held_ids = [q["id"] for q in _jsonl(FACTS / s / "heldout.jsonl")]
    if any(f"{s}/{i}" not in done for i in held_ids):
        return None
    row: dict[str, Any] = {
        "set": s, "variant": v, "train_examples": m["train_examples"], "eval_examples": m["eval_examples"],
        "steps": m["steps"], "epochs_done": m["epochs_done"], "schedule": m["schedule"],
        "loss_first_last": [m["losses"][0], m["losses"][-1]], "eval_losses": m["eval_losses"],
        "train_s": m["seconds"], "wall_s": json.loads((out / "wall.json").read_text())["wall_s"],
        "settings": json.loads((out / "training_config.json").read_text()),
        "heldout": rate(done, s, held_ids),
    }  # fmt: skip
    hits = dict(zip(held_ids, row["heldout"]["per_question"], strict=True))
    row["heldout"]["by_relation"] = {
        rel: sum(v for k, v in hits.items() if k.rsplit("-", 2)[1] == rel) for rel in RELATIONS
    }  # correct held-out questions per kind of fact (warranty months: 10 possible values)
    row["heldout"]["vs_base_p"] = mcnemar_exact(
        rate(base, s, held_ids)["per_question"], row["heldout"]["per_question"]
    )
    for g, qs in general_sets().items():
        ids = [q["id"] for q in qs]
        if all(f"{g}/{i}" in done for i in ids):
            row[g] = rate(done, g, ids)
            row[g]["vs_base_p"] = mcnemar_exact(rate(base, g, ids)["per_question"], row[g]["per_question"])
    return row


def report(sets: list[str], variants: list[str]) -> None:
    base = json.loads((WORK / "answers-base.json").read_text())
    for s in sets:
        if (WORK / f"answers-base-{s}.json").is_file():
            base.update(json.loads((WORK / f"answers-base-{s}.json").read_text()))
    general = general_sets()
    base_rows = {g: rate(base, g, [q["id"] for q in qs]) for g, qs in general.items()}
    for s in sets:
        ids = [q["id"] for q in _jsonl(FACTS / s / "heldout.jsonl")]
        if all(f"{s}/{i}" in base for i in ids):
            base_rows[s] = rate(base, s, ids)
    rows = [r for s in sets for v in variants if (r := _row(s, v, base))]
    missing = [
        f"{s}/{v}"
        for s in sets
        for v in variants
        if not any(r["set"] == s and r["variant"] == v for r in rows)
    ]
    pairs = _pairs(rows)
    text = (
        _table(base_rows, rows)
        + "\n\n"
        + "\n".join(f"- {x['line']}" for x in pairs)
        + (
            f"\n\nNot measured (no finished adapter and answers in the cache): {', '.join(missing)}."
            if missing
            else ""
        )
    )
    write_results("finetune_defaults", {"machine": machine(), "max_tokens": MAX_TOKENS,
                                        "base": base_rows, "runs": rows, "paired": pairs, "not_measured": missing}, text)  # fmt: skip


def _pairs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exact McNemar between variants on the same questions: auto vs fixed, replay vs auto."""
    from industry_expert.evaluate.stats import mcnemar_exact

    by = {(r["set"], r["variant"]): r for r in rows}
    out = []
    for s, b in by:
        a = {"auto": "fixed", "selfreplay": "replay"}.get(b, "auto" if b.startswith("replay") else None)
        if a is None or (s, a) not in by:
            continue
        for k in ("heldout", *GENERAL):
            x, y = by[(s, a)][k], by[(s, b)][k]
            p = mcnemar_exact(x["per_question"], y["per_question"])
            line = f"{s} {k}: {a} {x['correct']}/{x['n']} vs {b} {y['correct']}/{y['n']}, exact McNemar p={p:.3f}"
            out.append({"set": s, "questions": k, "a": a, "b": b, "p": round(p, 4), "line": line})
    return out


def pct(r: dict[str, Any]) -> str:
    return f"{r['accuracy']:.3f} [{r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}] ({r['correct']}/{r['n']})"


def _table(base: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    head = (
        "Fine-tuning defaults on invented facts (SmolLM2-135M-Instruct, CPU, 1 thread). Model alone, "
        f"greedy, `expert ask`'s path without a KB, max_tokens {MAX_TOKENS}. tune12 is the only set "
        "any default was chosen on. fixed = the old defaults (3 epochs, schedule: fixed); auto = the "
        "defaults (`expert finetune DATA --out DIR`, no config); replay = the defaults on "
        "`expert data mix` output (20% general examples; replay35/replay50: `--share 0.35/0.5`). "
        "p: exact McNemar vs the base model. The share was chosen on tune12 by a rule fixed before "
        "its results: the smallest of 0.2/0.35/0.5 with tune12 general66 within 5 points of base "
        "(>= 40/66) and held-out facts >= the 0.2 run's 10/24, else 0.2; none passed, so 0.2 stays. "
        "Round 4 tried, on tune12 only and by the same rule written down before the runs: selfreplay "
        "(`expert data mix --answers model`: the replayed questions answered by the base model "
        "itself), and the default learning rate halved (`@lr=0.0005`) with and without replay; none "
        "passed, so nothing changed and they were not run on the reported sets. Round 5, the same "
        "way: a quarter of the LoRA rank at the same alpha/r (`@lora_r=4+lora_alpha=8`, with replay "
        "0.2 and 0.35) and fewer steps (`@min_steps=60`); none passed. Round 6, the same way: as "
        "many passes over the company examples as `auto` makes (replay dilutes them: 0.5 halves the "
        "epochs), `@min_steps=154` with 0.35 and `@min_steps=200` with 0.5; the 2-example held-out "
        "split stopped both at epoch 6, so they ran again with `+patience=20` (no early stop: 11 "
        "and 12 epochs); none passed: facts stayed at 5-6/24, so replay costs facts beyond the "
        "passes it takes away. "
        "train s is wall time on 2 shared, heavily loaded cores (the same run took 198-1280 s).\n\n"
        "| set | variant | train ex. | steps (epochs) | stop | held-out facts | p | general66 | p | "
        "sample general12 | p | train s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for s in dict.fromkeys(r["set"] for r in rows):
        if s in base:
            lines.append(f"| {s} | base | - | - | - | {pct(base[s])} | | {pct(base['general66'])} | | "
                         f"{pct(base['sample12'])} | | - |")  # fmt: skip
        for r in (r for r in rows if r["set"] == s):
            sch = r["schedule"]
            stop = f"early, epoch {sch['best_epoch']}" if sch.get("stopped_early") else "full"
            g = [(pct(r[k]), f"{r[k]['vs_base_p']:.3f}") if k in r else ("-", "") for k in GENERAL]
            lines.append(
                f"| {s} | {r['variant']} | {r['train_examples']} | {r['steps']} ({r['epochs_done']}) | "
                f"{stop} | {pct(r['heldout'])} | {r['heldout']['vs_base_p']:.3f} | {g[0][0]} | {g[0][1]} | "
                f"{g[1][0]} | {g[1][1]} | {r['train_s']:.0f} |"
            )
    return head + "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="tune12,a12,b36,c90")
    ap.add_argument(
        "--variants",
        default="fixed,auto,replay,replay35,replay50,selfreplay,auto@lr=0.0005,replay@lr=0.0005,"
        "replay@lora_r=4+lora_alpha=8,replay@min_steps=60,replay35@lora_r=4+lora_alpha=8,"
        "replay35@min_steps=154,replay50@min_steps=200,replay35@min_steps=154+patience=20,"
        "replay50@min_steps=200+patience=20",
    )
    ap.add_argument("--only-train", action="store_true")
    ap.add_argument("--report", action="store_true", help="Only write the results from the cache.")
    a = ap.parse_args()
    sets, variants = a.sets.split(","), a.variants.split(",")
    if not a.report:
        run(sets, variants, a.only_train)
    report(sets, variants)


if __name__ == "__main__":
    main()
