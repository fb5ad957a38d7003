"""How much of a LoRA update survives `expert finetune merge --gguf` into a 4-bit model?

    python bench/merge_washout.py [ADAPTER ...]   # default: the adapters other benchmarks trained

Merging folds the update ``B @ A * alpha / r`` into each weight; quantizing the merged weights to
Q4_1 (the bundled model's format: blocks of 32, 16 levels between the block's min and max, as
llama.cpp's ``quantize_row_q4_1``) then rounds every weight to its block's grid. For each adapter
on the bundled SmolLM2-135M: how large the update is against the grid step, the share of weights
whose 4-bit level moves, and the share of the update that the quantized model still carries (the
projection of ``Q(W + D) - Q(W)`` on ``D``). The GGUF LoRA (`expert finetune export`) keeps the
update in f16 beside the quantized weights instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import OUT, machine, write_results

DEFAULT = [
    ("grounded, 24 RAFT examples (round 4)", OUT / "grounded" / "adapter-minus-kestrel"),
    ("grounded, 240 RAFT examples", OUT / "grounded" / "40x7" / "adapter-minus-kestrel"),
    ("grounded, per-KB, 120 examples", OUT / "grounded" / "adapter-kestrel-120"),
    ("facts (sample recipe, 75 steps)", OUT / "kestrel-lora"),
]


def q4_1(x):  # type: ignore[no-untyped-def]
    """(dequantized weights, grid step per block, 4-bit level) of llama.cpp's Q4_1 along rows."""
    import torch

    blocks = x.reshape(-1, 32)
    lo = blocks.min(1, keepdim=True).values
    step = (blocks.max(1, keepdim=True).values - lo) / 15
    level = torch.round((blocks - lo) / step.clamp_min(1e-12)).clamp(0, 15)
    return (level * step + lo).reshape(x.shape), step, level


def survival(adapter: Path, base: dict) -> dict:
    from safetensors.torch import load_file

    cfg = json.loads((adapter / "adapter_config.json").read_text())
    scale = cfg["lora_alpha"] / cfg["r"]
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    moved = total = 0
    ratio, kept = [], []
    for key, a in weights.items():
        if "lora_A" not in key:
            continue
        b = weights[key.replace("lora_A", "lora_B")]
        w = base[key.replace("base_model.model.", "").replace(".lora_A.weight", ".weight")]
        d = (b @ a) * scale
        before, step, lv_before = q4_1(w)
        after, _, lv_after = q4_1(w + d)
        moved += int((lv_before != lv_after).sum())
        total += w.numel()
        ratio.append(float(d.abs().mean() / step.mean()))
        flat = d.flatten()
        kept.append(float((after - before).flatten() @ flat / (flat @ flat)))
    return {
        "lora_r": cfg["r"],
        "lora_alpha": cfg["lora_alpha"],
        "update_over_step": sum(ratio) / len(ratio),
        "levels_moved": moved / total,
        "update_kept": sum(kept) / len(kept),
    }


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from industry_expert.models.checkpoints import bundled_hf_checkpoint

    given = [(Path(p).name, Path(p)) for p in sys.argv[1:]]
    adapters = [(n, p) for n, p in given or DEFAULT if (p / "adapter_model.safetensors").is_file()]
    base = AutoModelForCausalLM.from_pretrained(bundled_hf_checkpoint(), dtype=torch.float32).state_dict()
    rows = [
        {"adapter": name, "path": str(path.relative_to(OUT)), **survival(path, base)}
        for name, path in adapters
    ]
    lines = [
        "| adapter | r / alpha | mean update / Q4_1 step | 4-bit levels moved | update kept after Q4_1 |",
        "|---|---|---|---|---|",
    ] + [
        f"| {r['adapter']} | {r['lora_r']} / {r['lora_alpha']} | {r['update_over_step']:.3f} "
        f"| {r['levels_moved']:.2%} | {r['update_kept']:.1%} |"
        for r in rows
    ]
    text = (
        "LoRA updates merged into the bundled SmolLM2-135M and quantized to Q4_1 (`expert finetune merge "
        "--gguf`, at the bundled model's format; Q4_1 simulated as llama.cpp's quantize_row_q4_1). "
        "'update kept': the projection of Q(W + update) - Q(W) on the update, averaged over the adapted "
        "matrices (1.0: all of it reaches the quantized model). The GGUF LoRA of `expert finetune export` "
        "keeps the whole update in f16.\n\n" + "\n".join(lines)
    )
    write_results("merge_washout", {"machine": machine(), "results": rows}, text)


if __name__ == "__main__":
    main()
