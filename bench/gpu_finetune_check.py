"""Device check (run on a GPU machine; CI never runs it): the fine-tuning recipe's CUDA path.
LoRA, QLoRA (bitsandbytes NF4) and full fine-tuning of random Phi-3-architecture models on the GPU,
on the sample company's chat data: the device used, loss, tokens/s, peak GPU memory, and the QLoRA
frozen-base memory next to LoRA's at a larger size. Writes bench/results/gpu_finetune_check.{md,json}
(or under $OUT when set)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from industry_expert.finetune.lora import finetune  # noqa: E402
from industry_expert.finetune.settings import FinetuneSettings  # noqa: E402
from industry_expert.testing.tiny import build_tiny_phi3  # noqa: E402

DATA = ROOT / "examples" / "kestrel" / "finetune" / "train.jsonl"
SIZES = {"small": dict(hidden=256, layers=4, heads=8), "medium": dict(hidden=1024, layers=16, heads=16)}


def main() -> None:
    import torch

    corpus = DATA.read_text(encoding="utf-8").split("\n")
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for size, shape in SIZES.items():
        base = build_tiny_phi3(tmp / size, corpus, init_range=0.1, **shape)  # type: ignore[arg-type]
        for method in ("lora", "qlora", "full"):
            if size == "medium" and method == "full":
                continue
            torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
            s = FinetuneSettings(
                base=str(base),
                method=method,
                epochs=2,
                schedule="fixed",
                batch_size=16,
                max_seq_len=256,
                lr=1e-3 if method != "full" else 1e-4,
                eval_fraction=0.05,
            )
            t0 = time.perf_counter()
            r = finetune(DATA, tmp / f"{size}-{method}", s)
            rows.append(
                {
                    "size": size,
                    "method": method,
                    "device": r.device,
                    "steps": r.steps,
                    "loss_first": r.losses[0],
                    "loss_last": r.losses[-1],
                    "eval_losses": r.eval_losses,
                    "tokens_per_s": r.tokens_per_s,
                    "peak_gpu_mb": r.peak_gpu_mb,
                    "base_weight_mb": r.base_weight_mb,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    med = {r["method"]: r for r in rows if r["size"] == "medium"}
    ratio = med["qlora"]["base_weight_mb"] / med["lora"]["base_weight_mb"]
    lines = [
        "| model | method | device | steps | loss first -> last | trained tokens/s | peak GPU memory | frozen base weights |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['size']} | {r['method']} | {r['device']} | {r['steps']} | {r['loss_first']:.2f} -> "
        f"{r['loss_last']:.2f} | {r['tokens_per_s']:.0f} | {r['peak_gpu_mb']:.0f} MB | {r['base_weight_mb']:.0f} MB |"
        for r in rows
    ]
    text = (
        f"GPU fine-tuning check on {gpu}, torch {torch.__version__}: random Phi-3-architecture models "
        f"(small: 256 hidden x 4 layers; medium: 1024 x 16), sample chat data, 2 epochs\n\n"
        + "\n".join(lines)
        + f"\n\nQLoRA frozen base weights / LoRA (bf16) at medium size: {ratio:.2f}."
    )
    out = Path(os.environ.get("OUT") or ROOT / "bench" / "results")
    (out / "gpu_finetune_check.md").write_text(text + "\n", encoding="utf-8")
    (out / "gpu_finetune_check.json").write_text(
        json.dumps({"gpu": gpu, "rows": rows, "qlora_ratio": ratio}, indent=2) + "\n", encoding="utf-8"
    )
    print(text)


if __name__ == "__main__":
    main()
