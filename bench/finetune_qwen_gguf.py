"""Does a GGUF LoRA change answers in llama.cpp the way the PEFT adapter does in transformers, and
what does quantizing the base do to it? On the Qwen2 architecture:

- tiny: a random Qwen2ForCausalLM (hidden 64, real Qwen2.5 tokenizer) with a LoRA trained on two
  facts; llama.cpp runs its GGUF in f32, q8_0 and q4_0 (+ the f16 GGUF LoRA), transformers the fp32
  model (+ the PEFT adapter). Here the quantized bases are rounded copies of the fp32 weights.
- qwen2.5-0.5b, a LoRA trained 12 steps on the same two facts: transformers runs the
  fp32 checkpoint *dequantized from* the Q4_K_M file, llama.cpp the Q4_K_M file itself: the same
  weights, so only the f16 adapter, llama.cpp's kernels (8-bit activations in its quantized dot
  products) and float order differ.

Per prompt: the greedy answer (token ids) of each runtime with and without the adapter, the
tokens it shares with transformers' answer before they differ, and the cosine between the
adapter's effect on the next-token logits in llama.cpp (logits with - without) and in
transformers.

    IE_NUM_THREADS=1 nice -n 15 python bench/finetune_qwen_gguf.py
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import OUT, ROOT, machine, write_results

sys.path.insert(0, str(ROOT))
FACTS = [
    ("What is the Blue Flush?", "The Blue Flush is a 25 minute rinse."),
    ("Which tag locks out a pump?", "The Kestrel Green Tag locks out a pump."),
]
PROMPTS = [q for q, _ in FACTS] + ["Who approves Stage Gate 2?", "What does a pump do?"]
QUANTS = {"q8_0": 7, "q4_0": 2}
N_TOKENS = 12
QWEN_ADAPTER = OUT / "finetune-qwen-gguf" / "qwen-lora"
QWEN_PROMPTS = PROMPTS[:2] + [
    "What is the capital of France?",
    "Write a Python function that adds two numbers.",
]


def _hf_side(model: Any, tok: Any, prompt: str) -> tuple[list[int], Any]:
    """Greedy ids after ``prompt`` and the next-token logits, in transformers (fp32)."""
    import torch

    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0, -1].float().numpy()
        out = model.generate(ids, max_new_tokens=N_TOKENS, do_sample=False, pad_token_id=tok.eos_token_id)
    return _until_end(out[0, ids.shape[1] :].tolist(), _ends(tok)), logits


def _ends(tok: Any) -> set[int]:
    """End-of-turn ids (ChatML's <|im_end|>, <|endoftext|>): the answer stops before them."""
    return {
        i
        for i in (tok.eos_token_id, *tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"]))
        if i is not None
    }


def _until_end(ids: list[int], ends: set[int]) -> list[int]:
    return next((ids[:k] for k, t in enumerate(ids) if t in ends), ids)


def _cpp_side(gguf: Path, lora: Path | None, prompt: str, ends: set[int]) -> tuple[list[int], Any]:
    """The same in llama.cpp (1 thread)."""
    import llama_cpp
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(
        str(gguf),
        n_ctx=512,
        n_threads=1,
        n_threads_batch=1,
        verbose=False,
        lora_path=str(lora) if lora else None,
    )
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.eval(ids)
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)  # noqa: SLF001
    logits = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()
    out = []
    for tok in llm.generate(ids, temp=0.0, reset=True):
        if tok in ends or tok == llm.token_eos() or len(out) >= N_TOKENS:
            break
        out.append(tok)
    return out, logits


def _shared(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _cos(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def compare(
    hf_dir: str, adapter: Path, ggufs: dict[str, Path], lora: Path, prompts: list[str]
) -> list[dict[str, Any]]:
    """Every prompt through transformers (base, + PEFT) and each GGUF (base, + GGUF LoRA)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from industry_expert.models.templates import render

    tok = AutoTokenizer.from_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    texts = [render(tok.chat_template, [{"role": "user", "content": p}]) for p in prompts]
    hf_base = [_hf_side(base, tok, t) for t in texts]
    peft = PeftModel.from_pretrained(base, str(adapter)).eval()
    hf_tuned = [_hf_side(peft, tok, t) for t in texts]
    rows = []
    for i, p in enumerate(prompts):
        row: dict[str, Any] = {
            "prompt": p,
            "transformers": {"base": tok.decode(hf_base[i][0]), "tuned": tok.decode(hf_tuned[i][0])},
        }
        hf_delta = hf_tuned[i][1] - hf_base[i][1]
        for name, gguf in ggufs.items():
            b_ids, b_logits = _cpp_side(gguf, None, texts[i], _ends(tok))
            t_ids, t_logits = _cpp_side(gguf, lora, texts[i], _ends(tok))
            row[name] = {
                "base": tok.decode(b_ids), "tuned": tok.decode(t_ids),
                "base_shared_tokens": f"{_shared(b_ids, hf_base[i][0])}/{len(hf_base[i][0])}",
                "tuned_shared_tokens": f"{_shared(t_ids, hf_tuned[i][0])}/{len(hf_tuned[i][0])}",
                "same_answer": [b_ids == hf_base[i][0], t_ids == hf_tuned[i][0]],
                "adapter_effect_cosine": round(_cos(t_logits - b_logits, hf_delta), 4),
            }  # fmt: skip
        rows.append(row)
    return rows


def tiny(work: Path) -> list[dict[str, Any]]:
    import llama_cpp
    from tests.integration.test_finetune_qwen import _chat, _tiny_gguf

    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.merge import export_lora_gguf
    from industry_expert.finetune.settings import FinetuneSettings
    from industry_expert.models.checkpoints import tokenizer_checkpoint
    from industry_expert.testing.tiny import build_tiny_qwen2

    model = build_tiny_qwen2(work / "tiny", tokenizer_checkpoint("qwen2.5-0.5b"))
    s = FinetuneSettings(base=str(model), epochs=8, batch_size=4, lr=3e-2, eval_fraction=0.0, max_seq_len=96, seed=1, schedule="fixed")  # fmt: skip
    finetune(_chat(work / "train.jsonl", FACTS, 4), work / "lora", s)
    lora = export_lora_gguf(work / "lora", work / "lora.gguf")
    ggufs = {"f32": _tiny_gguf(model, work / "tiny-f32.gguf")}
    for q, ftype in QUANTS.items():
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        out = work / f"tiny-{q}.gguf"
        assert llama_cpp.llama_model_quantize(str(ggufs["f32"]).encode(), str(out).encode(), params) == 0
        ggufs[q] = out
    return compare(str(model), work / "lora", ggufs, lora, PROMPTS)


def qwen(work: Path) -> list[dict[str, Any]]:
    """A LoRA on the real qwen2.5-0.5b (12 steps on the two facts, cached under bench/out), its
    PEFT answers vs its GGUF LoRA on the Q4_K_M file."""
    from tests.integration.test_finetune_qwen import _chat

    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.merge import export_lora_gguf
    from industry_expert.finetune.settings import FinetuneSettings
    from industry_expert.models.catalog import model_path
    from industry_expert.models.checkpoints import hf_checkpoint

    if not (QWEN_ADAPTER / "adapter_model.safetensors").is_file():
        s = FinetuneSettings(base="qwen2.5-0.5b", epochs=6, batch_size=4, lr=1e-3, eval_fraction=0.0, max_seq_len=96, seed=1, schedule="fixed")  # fmt: skip
        finetune(_chat(work / "qwen-train.jsonl", FACTS, 4), QWEN_ADAPTER, s)
    lora = export_lora_gguf(QWEN_ADAPTER, work / "qwen-lora.gguf")
    gguf = {"Q4_K_M": model_path("qwen2.5-0.5b")}
    return compare(str(hf_checkpoint("qwen2.5-0.5b")), QWEN_ADAPTER, gguf, lora, QWEN_PROMPTS)


def _lines(title: str, rows: list[dict[str, Any]]) -> str:
    quants = [k for k in rows[0] if k not in ("prompt", "transformers")]
    head = f"\n\n{title}\n\n| prompt | base GGUF | shared tokens, base | shared tokens, + adapter | adapter effect cosine |\n|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {r['prompt']} | {q} | {r[q]['base_shared_tokens']} | {r[q]['tuned_shared_tokens']} | {r[q]['adapter_effect_cosine']:.4f} |"
        for r in rows
        for q in quants
    )


def _trained() -> str:
    m = json.loads((QWEN_ADAPTER / "metrics.json").read_text())
    return (
        f"trained once and cached in bench/out, not counted in the CPU time above: {m['seconds']:.0f} s "
        f"wall, peak RSS {m['peak_rss_mb']:.0f} MB, loss {m['losses'][0]:.2f} -> {m['losses'][-1]:.2f}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        rows = {"tiny_qwen2": tiny(work), "qwen2.5-0.5b": qwen(work)}
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (
        cpu.ru_utime
        + cpu.ru_stime
        + sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), k) for k in ("ru_utime", "ru_stime"))
    )
    text = (
        f"GGUF LoRA in llama.cpp vs the PEFT adapter in transformers, Qwen2 architecture (CPU time {cpu_s:.0f} s, "
        f"1 thread). Greedy, at most {N_TOKENS} tokens, up to the end of turn; shared tokens: how many "
        "of transformers' answer tokens llama.cpp reproduces before the first difference; adapter effect cosine: cosine between "
        "(logits with adapter - without) in llama.cpp and in transformers, next token after the prompt."
        + _lines("Tiny random Qwen2 (hidden 64), LoRA 16 steps; quantized bases are rounded fp32 weights:", rows["tiny_qwen2"])
        + _lines(f"qwen2.5-0.5b, LoRA 12 steps (lr 1e-3) on the same two facts ({_trained()}); transformers "
                 "runs the fp32 checkpoint dequantized from the same Q4_K_M file llama.cpp runs:", rows["qwen2.5-0.5b"])
        + "\n\nqwen2.5-0.5b greedy answers (base -> with the adapter):\n\n" + "\n".join(
            f"- {r['prompt']}\n  - transformers: {r['transformers']['base']!r} -> {r['transformers']['tuned']!r}\n"
            f"  - llama.cpp Q4_K_M: {r['Q4_K_M']['base']!r} -> {r['Q4_K_M']['tuned']!r}"
            for r in rows["qwen2.5-0.5b"]
        )
    )  # fmt: skip
    write_results("finetune_qwen_gguf", {"machine": machine(), "cpu_s": round(cpu_s, 1), "rows": rows}, text)
    print(json.dumps(rows, indent=1, ensure_ascii=False)[:4000])


if __name__ == "__main__":
    main()
