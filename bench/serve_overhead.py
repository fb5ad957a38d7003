"""What the HTTP layer costs. (1) Generation through `/v1/chat/completions` (model alone) next to
llama-cpp-python's own OpenAI server on the same GGUF, same prompt, same thread count, in the same
run: tokens/s (completion tokens / request time, non-streaming) and time to first content chunk
(streaming; ours sends whole sentences, so its first chunk is the first complete sentence).
(2) Search over HTTP next to the library's `search` in-process on the same KB.

    python bench/serve_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import httpx

from _common import QUESTIONS, machine, sample_kb, write_results
from _serve import start_expert, start_llama_server, stop

PROMPT = "Explain in detail how a centrifugal pump works and how it is maintained."
MAX_TOKENS = 96


def messages(variant: int, ours: bool) -> list[dict[str, str]]:
    """The same prompt for both: ours adds its system message to the question, so theirs gets
    exactly those messages. Each request asks a new variant, so no server answers from a cached
    prompt (RAG prompts never repeat either)."""
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.prompts import alone_messages

    question = f"{PROMPT} (Question {variant}.)"
    if ours:
        return [{"role": "user", "content": question}]
    return alone_messages(question, AnswerSettings().sentences)


def chat_once(url: str, key: str | None, stream: bool, variant: int) -> tuple[float, int]:
    """(seconds to the first content chunk when streaming, else the whole request; completion tokens)."""
    body = {
        "model": "smollm2",
        "messages": messages(variant, ours=key is not None),
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    t0 = time.perf_counter()
    if not stream:
        r = httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=300)
        r.raise_for_status()
        return time.perf_counter() - t0, int(r.json()["usage"]["completion_tokens"])
    with httpx.stream(
        "POST", url + "/v1/chat/completions", json={**body, "stream": True}, headers=headers, timeout=300
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                return time.perf_counter() - t0, 0
    return time.perf_counter() - t0, 0


def generation(repeats: int) -> dict[str, Any]:
    from industry_expert.models.llamacpp import bundled_gguf

    ours, ours_url, key = start_expert("serve-overhead", {})
    theirs, theirs_url = start_llama_server(bundled_gguf())
    rows: dict[str, dict[str, list[float]]] = {
        name: {"tps": [], "ttft": [], "tokens": []} for name in ("expert serve", "llama_cpp.server")
    }
    try:
        for i in range(repeats):  # interleaved, so both see the same machine load
            for name, url, k in (("expert serve", ours_url, key), ("llama_cpp.server", theirs_url, None)):
                seconds, tokens = chat_once(url, k, False, 2 * i)
                rows[name]["tps"].append(tokens / seconds)
                rows[name]["tokens"].append(tokens)
                rows[name]["ttft"].append(chat_once(url, k, True, 2 * i + 1)[0])
    finally:
        stop(ours)
        stop(theirs)
    out: dict[str, Any] = {
        n: {
            "tokens_per_s": round(statistics.median(r["tps"]), 1),
            "ttft_s": round(statistics.median(r["ttft"]), 3),
            "completion_tokens": r["tokens"],
        }
        for n, r in rows.items()
    }
    out["ratio_tokens_per_s"] = round(
        out["expert serve"]["tokens_per_s"] / out["llama_cpp.server"]["tokens_per_s"], 2
    )
    return out


def search_overhead(n: int = 40) -> dict[str, Any]:
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import search

    kb_path = sample_kb()
    qs = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()][:n]
    with KnowledgeBase.open(kb_path) as kb:
        search(qs[0], kb)
        local = []
        for q in qs:
            t0 = time.perf_counter()
            search(q, kb, k=5)
            local.append(time.perf_counter() - t0)
    proc, url, key = start_expert(
        "serve-overhead-search", {"kbs": {"kestrel": {"path": str(kb_path)}}, "rate_limit_per_minute": 0}
    )
    remote = []
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            c.post("/v1/kbs/kestrel/search", json={"query": qs[0]})
            for q in qs:
                t0 = time.perf_counter()
                c.post("/v1/kbs/kestrel/search", json={"query": q, "k": 5}).raise_for_status()
                remote.append(time.perf_counter() - t0)
    finally:
        stop(proc)
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    return {
        "queries": len(qs),
        "in_process_p50_ms": ms(local),
        "http_p50_ms": ms(remote),
        "overhead_p50_ms": round(ms(remote) - ms(local), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    gen = generation(args.repeats)
    srch = search_overhead()
    g1, g2 = gen["expert serve"], gen["llama_cpp.server"]
    md = (
        f"# HTTP overhead ({machine()['cpus']} cores, 1 llama.cpp thread each, SmolLM2-135M Q4_1, {MAX_TOKENS} tokens max, median of {args.repeats})\n\n"
        "| server | tokens/s (non-streaming, whole request) | time to first content chunk (s) |\n|---|---:|---:|\n"
        f"| expert serve `/v1/chat/completions` (model alone) | {g1['tokens_per_s']} | {g1['ttft_s']} |\n"
        f"| llama-cpp-python `llama_cpp.server` | {g2['tokens_per_s']} | {g2['ttft_s']} |\n\n"
        f"ratio (ours / theirs, tokens/s): {gen['ratio_tokens_per_s']}x. Our first chunk is a complete sentence (checked streaming), theirs a token.\n\n"
        f"Search, {srch['queries']} sample questions, k=5: in-process `search` p50 {srch['in_process_p50_ms']} ms, "
        f"`POST /v1/kbs/kestrel/search` p50 {srch['http_p50_ms']} ms (HTTP + JSON: {srch['overhead_p50_ms']} ms)."
    )
    write_results(
        "serve_overhead",
        {"machine": machine(), "max_tokens": MAX_TOKENS, "generation": gen, "search": srch},
        md,
    )


if __name__ == "__main__":
    main()
