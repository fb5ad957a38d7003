"""Fine-tuning tokens/s with 1 and 2 training processes on the CPU, same data and global batch.

The bundled SmolLM2-135M, LoRA, the sample company's chat data; 1 process with grad_accum 2 against
2 processes (``accelerate launch --config_file configs/accelerate-cpu-2proc.yaml``, gloo) with
grad_accum 1, through the real CLI. On 2 shared cores little gain is expected: the point is the
distributed path (and that both runs log the same losses).

    python bench/finetune_processes.py [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, SAMPLE, machine, write_results

SETTINGS = {"base": "smollm2", "method": "lora", "batch_size": 4, "max_seq_len": 256, "lr": 1e-3,
            "eval_fraction": 0.05, "lora_dropout": 0.0, "seed": 0}  # fmt: skip


def run(processes: int, steps: int, tmp: Path) -> dict:  # type: ignore[type-arg]
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / f"ft{processes}.json"
    settings = {**SETTINGS, "max_steps": steps, "grad_accum": 2 // processes}
    config.write_text(json.dumps({"finetune": settings}), encoding="utf-8")
    out = tmp / f"out{processes}"
    cli = ["-m", "industry_expert", "finetune", str(SAMPLE / "finetune" / "train.jsonl"), "--out", str(out),
           "--config", str(config), "--json"]  # fmt: skip
    if processes == 1:
        cmd = [sys.executable, *cli]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(ROOT / "configs" / "accelerate-cpu-2proc.yaml"), "--num_processes", str(processes), *cli]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "IE_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return {
        "processes": metrics["processes"],
        "steps": metrics["steps"],
        "tokens_per_s": metrics["tokens_per_s"],
        "trained_tokens": metrics["trained_tokens"],
        "losses": metrics["losses"],
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mb_per_process": metrics["peak_rss_mb"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # alternated, so that load from others hits both alike
        rows = [run(p, args.steps, Path(tmp) / f"r{i}") for i in range(args.repeats) for p in (1, 2)]
    same = max(abs(a - b) for r in rows for a, b in zip(rows[0]["losses"], r["losses"]))
    lines = ["| processes | steps | trained tokens | tokens/s | wall (incl. start-up) | peak RSS / process |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {r['processes']} | {r['steps']} | {r['trained_tokens']} | {r['tokens_per_s']:.0f} | {r['wall_s']:.0f} s | "
        f"{r['peak_rss_mb_per_process']:.0f} MB |"
        for r in rows
    ]
    text = (
        "LoRA on SmolLM2-135M, same data and global batch (4 x 2 conversations, max 256 tokens), "
        f"CPU, 1 thread per process, runs alternated; largest loss difference between any two runs: "
        f"{same:.2e}\n\n" + "\n".join(lines)
    )
    write_results("finetune_processes", {"machine": machine(), "runs": rows, "max_loss_diff": same}, text)


if __name__ == "__main__":
    main()
