"""Training throughput and memory on the same model (bundled SmolLM2-135M) and data (the sample
company's chat set): LoRA vs QLoRA vs full fine-tuning, padded vs bucketed vs packed batches, and
fp32 vs bf16 arithmetic on the CPU (``precision``), also on RAFT examples (the sample KB's
`expert data from-kb --raft`: long prompts holding `expert ask`'s passages, batch 1).
Each configuration runs in its own process so that peak RSS is its own.

    python bench/finetune_speed.py                        # SmolLM2: every configuration
    python bench/finetune_speed.py --base qwen2.5-0.5b    # LoRA, QLoRA, LoRA in bf16 on the chat set
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import OUT, SAMPLE, machine, write_results

STEPS = 8
RUNS = [
    ("lora", "bucket", "fp32", "chat"),
    ("qlora", "bucket", "fp32", "chat"),
    ("full", "bucket", "fp32", "chat"),
    ("lora", "pad", "fp32", "chat"),
    ("lora", "pack", "fp32", "chat"),
    ("lora", "bucket", "bf16", "chat"),
    ("full", "bucket", "bf16", "chat"),
    ("lora", "bucket", "fp32", "raft"),
    ("lora", "bucket", "bf16", "raft"),
]
OTHER_BASE_RUNS = [RUNS[0], RUNS[1], RUNS[5]]
"""``--base`` other than SmolLM2: LoRA vs QLoRA (the frozen base's memory) and bf16, on the chat set."""


def raft_data() -> Path:
    """RAFT examples from the sample KB (built once under bench/out)."""
    from answer_fallback import kb_for
    from industry_expert.finetune.synth import write_from_kb

    path = OUT / "finetune-speed-raft.jsonl"
    if not path.is_file():
        write_from_kb(kb_for("kestrel", {}), path, raft=True, phrasings=1, seed=0, limit=STEPS)
    return path


def one(method: str, batching: str, precision: str, data: str, base: str = "smollm2") -> dict:
    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.settings import FinetuneSettings

    raft = data == "raft"
    s = FinetuneSettings(
        base=base,
        method=method,
        batching=batching,
        precision=precision,  # type: ignore[arg-type]
        max_steps=STEPS,
        batch_size=1 if raft else 8,
        max_seq_len=2048 if raft else 256,
        eval_fraction=0.0 if raft else 0.05,
        lr=1e-4 if method == "full" else 1e-3,
    )
    with tempfile.TemporaryDirectory() as out:
        r = finetune(raft_data() if raft else SAMPLE / "finetune" / "train.jsonl", out, s)
    return {
        "method": method,
        "batching": batching,
        "precision": r.precision,
        "data": data,
        "s_per_step": round(r.trained_tokens / r.tokens_per_s / r.steps, 2),
        "first_loss": r.losses[0],
        "tokens_per_s": r.tokens_per_s,
        "peak_rss_mb": r.peak_rss_mb,
        "base_weight_mb": r.base_weight_mb,
        "trainable_params": r.trainable_params,
        "steps": r.steps,
        "trained_tokens": r.trained_tokens,
    }


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--one":
        print(json.dumps(one(*sys.argv[2:])))
        return
    base = sys.argv[sys.argv.index("--base") + 1] if "--base" in sys.argv else "smollm2"
    runs = RUNS if base == "smollm2" else OTHER_BASE_RUNS
    if any(r[3] == "raft" for r in runs):
        raft_data()
    rows = []
    for run in runs:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", *run, base], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    by = {(r["method"], r["batching"], r["precision"], r["data"]): r for r in rows}
    ratio = (
        by[("qlora", "bucket", "fp32", "chat")]["base_weight_mb"]
        / by[("lora", "bucket", "fp32", "chat")]["base_weight_mb"]
    )
    speedup = {
        f"{m} {d}": by[(m, "bucket", "fp32", d)]["s_per_step"] / by[(m, "bucket", "bf16", d)]["s_per_step"]
        for m, d in (("lora", "chat"), ("full", "chat"), ("lora", "raft"))
        if (m, "bucket", "bf16", d) in by
    }
    lines = [
        "| data | method | batches | precision | s/step | trained tokens/s | first loss | peak RSS "
        "| frozen base weights | trainable params |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['data']} | {r['method']} | {r['batching']} | {r['precision']} | {r['s_per_step']:.2f} "
        f"| {r['tokens_per_s']:.0f} | {r['first_loss']:.4f} | {r['peak_rss_mb']:.0f} MB | "
        f"{r['base_weight_mb']:.0f} MB | {r['trainable_params']:,} |"
        for r in rows
    ]
    text = (
        f"Fine-tuning speed and memory, {'SmolLM2-135M' if base == 'smollm2' else base + ' (LoRA targets: its own defaults)'}, "
        f"{STEPS} steps, CPU, 1 thread: chat = the sample's "
        "chat set, batch 8, max 256 tokens"
        + (
            "; raft = the sample KB's RAFT examples (`expert ask`'s prompt with its passages), batch 1, max 2048 tokens"
            if base == "smollm2"
            else "; the other core idle"
        )
        + "\n\n"
        + "\n".join(lines)
        + f"\n\nQLoRA frozen base weights / LoRA: {ratio:.2f}"
        + (
            " (goal <= 0.40)"
            if base == "smollm2"
            else " (its token embeddings and output layer, 151,936 x 896 each, stay unquantized: 43% of the fp32 weights)"
        )
        + ". bf16 speed-up per step "
        "(fp32 s/step over bf16 s/step, same data and seed): "
        + ", ".join(f"{k} {v:.2f}x" for k, v in speedup.items())
        + ". First loss: the same first batch in both precisions. "
        "Tokens/s count answer tokens trained (padding and prompts excluded)."
    )
    data = {
        "machine": machine(),
        "base": base,
        "results": rows,
        "qlora_base_ratio": ratio,
        "bf16_speedup": speedup,
    }
    write_results("finetune_speed" + ("" if base == "smollm2" else f"_{base}"), data, text)


if __name__ == "__main__":
    main()
