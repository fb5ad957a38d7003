"""Training throughput and memory on the same model (bundled SmolLM2-135M) and data (the sample
company's chat set): LoRA vs QLoRA vs full fine-tuning, and padded vs bucketed vs packed batches.
Each configuration runs in its own process so that peak RSS is its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from _common import SAMPLE, machine, write_results

STEPS = 8
RUNS = [("lora", "bucket"), ("qlora", "bucket"), ("full", "bucket"), ("lora", "pad"), ("lora", "pack")]


def one(method: str, batching: str) -> dict:
    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.settings import FinetuneSettings

    s = FinetuneSettings(
        base="smollm2",
        method=method,
        batching=batching,
        max_steps=STEPS,
        batch_size=8,
        max_seq_len=256,
        eval_fraction=0.05,
        lr=1e-4 if method == "full" else 1e-3,
    )
    with tempfile.TemporaryDirectory() as out:
        r = finetune(SAMPLE / "finetune" / "train.jsonl", out, s)
    return {
        "method": method,
        "batching": batching,
        "tokens_per_s": r.tokens_per_s,
        "peak_rss_mb": r.peak_rss_mb,
        "base_weight_mb": r.base_weight_mb,
        "trainable_params": r.trainable_params,
        "steps": r.steps,
        "trained_tokens": r.trained_tokens,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
        return
    rows = []
    for method, batching in RUNS:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", method, batching], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    by = {(r["method"], r["batching"]): r for r in rows}
    ratio = by[("qlora", "bucket")]["base_weight_mb"] / by[("lora", "bucket")]["base_weight_mb"]
    lines = [
        "| method | batches | trained tokens/s | peak RSS | frozen base weights | trainable params |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['batching']} | {r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} MB | "
        f"{r['base_weight_mb']:.0f} MB | {r['trainable_params']:,} |"
        for r in rows
    ]
    text = (
        f"Fine-tuning speed and memory, SmolLM2-135M, {STEPS} steps x batch 8, max 256 tokens, CPU\n\n"
        + "\n".join(lines)
        + f"\n\nQLoRA frozen base weights / LoRA: {ratio:.2f} (goal <= 0.40). "
        "Tokens/s count answer tokens trained (padding and prompts excluded)."
    )
    write_results("finetune_speed", {"machine": machine(), "results": rows, "qlora_base_ratio": ratio}, text)


if __name__ == "__main__":
    main()
