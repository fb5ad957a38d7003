"""Generation speed through our pipeline (LlamaCppGenerator.stream: our chat template rendering,
tokenization and streaming) next to llama.cpp's own decode speed on the same GGUF and prompt, in
the same run; plus time to first token. Greedy decoding, so both produce the same tokens."""

from __future__ import annotations

import statistics
import time

import llama_cpp

from _common import machine, write_results
from industry_expert.generate.prompts import format_passage, rag_messages
from industry_expert.models.llamacpp import LlamaCppGenerator, bundled_gguf
from industry_expert.types import Hit

REPEATS = 5
MAX_TOKENS = 96
PASSAGE = (
    "Regrease the KF-340 bearings every 3000 operating hours with 15 g of Kestrel Lube LX-2 per "
    "bearing. The KF-560 needs 25 g every 2000 hours. Never mix LX-2 with other greases. "
) * 4


def main() -> None:
    gen = LlamaCppGenerator(bundled_gguf())
    hit = Hit("manual.pdf", "Lubrication", 10, 0.0, PASSAGE, "d", 1, "pdf", "KF manual")
    messages = rag_messages(
        "How often are KF-340 bearings regreased, and with how much grease?", [format_passage(1, hit)]
    )
    prompt_tokens = gen.tokens(gen.render(messages))
    ttft, tps, raw_tps = [], [], []
    for _ in range(REPEATS):
        # ours: wall clock, streaming, from our messages to the last token
        t0 = time.perf_counter()
        first, n, text = 0.0, 0, ""
        for piece in gen.stream(messages, max_tokens=MAX_TOKENS):
            first = first or time.perf_counter() - t0
            text += piece
        total = time.perf_counter() - t0
        n = gen.count_tokens(text)
        ttft.append(first)
        tps.append((n - 1) / (total - first))
        # llama.cpp's own: its internal decode timer for the same prompt tokens, greedy
        gen.llm.reset()
        llama_cpp.llama_perf_context_reset(gen.llm.ctx)
        gen.llm.create_completion(prompt_tokens, max_tokens=MAX_TOKENS, temperature=0.0)
        perf = llama_cpp.llama_perf_context(gen.llm.ctx)
        raw_tps.append(perf.n_eval / (perf.t_eval_ms / 1000))
    r = {
        "prompt_tokens": len(prompt_tokens),
        "completion_tokens": n,
        "ours_tokens_per_s": statistics.median(tps),
        "llamacpp_tokens_per_s": statistics.median(raw_tps),
        "ttft_s": statistics.median(ttft),
    }
    r["ratio"] = r["ours_tokens_per_s"] / r["llamacpp_tokens_per_s"]
    text = (
        f"Generation speed, bundled SmolLM2-135M Q4_1, 1 thread, prompt {r['prompt_tokens']} tokens, "
        f"{r['completion_tokens']} generated, median of {REPEATS}\n\n"
        "| measure | tokens/s |\n|---|---|\n"
        f"| our pipeline (stream, wall clock after the first token) | {r['ours_tokens_per_s']:.1f} |\n"
        f"| llama.cpp's own decode timer, same GGUF and prompt | {r['llamacpp_tokens_per_s']:.1f} |\n\n"
        f"Ratio {r['ratio']:.2f} (goal >= 0.90). Time to first token (prompt processing included): "
        f"{r['ttft_s']:.2f} s."
    )
    write_results("generation_speed", {"machine": machine(), "results": r}, text)


if __name__ == "__main__":
    main()
