"""What the HTTP layer costs. (1) Generation through `/v1/chat/completions` (model alone) next to
llama-cpp-python's own OpenAI server on the same GGUF, same prompt, same thread count, in the same
run: tokens/s (completion tokens / request time, non-streaming), time to the first content chunk
and time to the first complete sentence (streaming; ours sends whole checked sentences, so for us
the two are the same). ``--runs`` repeats the whole comparison with fresh servers (the machine is
shared: each run's ratios are reported, and their median). (2) Search over HTTP next to the
library's `search` in-process on the same KB.

    python bench/serve_overhead.py [--model smollm2] [--repeats 5] [--runs 3]

``--model``: a catalogue name (default smollm2, the table's model); both servers run its GGUF.
The library's answer path in-process against llama.cpp's server: ``bench/ask_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import httpx

from _common import QUESTIONS, machine, sample_kb, write_results
from _serve import start_expert, start_llama_server, stop

PROMPT = "Explain in detail how a centrifugal pump works and how it is maintained."
MAX_TOKENS = 96
MODEL = "smollm2"
"""The catalogue model both servers run (``--model``)."""


def messages(variant: int, ours: bool) -> list[dict[str, str]]:
    """The same prompt for both: ours adds its system message to the question, so theirs gets
    exactly those messages. Each request asks a new variant that differs from its first word on,
    as different questions (and RAG prompts, whose passages differ) do: both servers can reuse the
    cached system message and nothing after it."""
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.prompts import alone_messages

    question = f"Question {variant}: {PROMPT}"
    if ours:
        return [{"role": "user", "content": question}]
    return alone_messages(question, AnswerSettings().sentences)


def chat_once(url: str, key: str | None, variant: int) -> tuple[float, int, str]:
    """Non-streaming: (seconds for the whole request, completion tokens, text)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    t0 = time.perf_counter()
    r = httpx.post(url + "/v1/chat/completions", json=body(key, variant), headers=headers, timeout=300)
    r.raise_for_status()
    out = r.json()
    content = out["choices"][0]["message"]["content"]
    return time.perf_counter() - t0, int(out["usage"]["completion_tokens"]), content


def body(key: str | None, variant: int) -> dict[str, Any]:
    req: dict[str, Any] = {
        "model": MODEL,
        "messages": messages(variant, ours=key is not None),
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    if key is None:  # llama_cpp.server applies repeat_penalty 1.1 unless told: plain greedy, as ours
        req["repeat_penalty"] = 1.0
    return req


def stream_once(url: str, key: str | None, variant: int) -> tuple[float, float]:
    """Streaming, read to the end: (seconds to the first content chunk, to the first complete
    sentence, as our sentence splitter sees the streamed text)."""
    from industry_expert.generate.stream import SentenceSplitter

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    splitter, first, sentence = SentenceSplitter(), 0.0, 0.0
    t0 = time.perf_counter()
    req = {**body(key, variant), "stream": True}
    with httpx.stream("POST", url + "/v1/chat/completions", json=req, headers=headers, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            piece = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if piece:
                first = first or time.perf_counter() - t0
                if not sentence and (ours_sentence(key) or splitter.feed(piece)):
                    sentence = time.perf_counter() - t0
    return first, sentence or time.perf_counter() - t0


def ours_sentence(key: str | None) -> bool:
    return key is not None  # our every content chunk is a complete checked sentence


NAMES = ("expert serve", "llama_cpp.server")


def generation(repeats: int) -> dict[str, Any]:
    from industry_expert.models.catalog import model_path

    ours, ours_url, key = start_expert("serve-overhead", {"model": MODEL})
    theirs, theirs_url = start_llama_server(model_path(MODEL))
    rows: dict[str, dict[str, list[float]]] = {
        name: {"tps": [], "ttft": [], "ttfs": [], "tokens": []} for name in NAMES
    }
    texts: dict[str, list[str]] = {name: [] for name in NAMES}
    try:
        for i in range(repeats):  # interleaved, so both see the same machine load
            for name, url, k in zip(NAMES, (ours_url, theirs_url), (key, None), strict=True):
                seconds, tokens, text = chat_once(url, k, 2 * i)
                rows[name]["tps"].append(tokens / seconds)
                rows[name]["tokens"].append(tokens)
                texts[name].append(text)
                ttft, ttfs = stream_once(url, k, 2 * i + 1)
                rows[name]["ttft"].append(ttft)
                rows[name]["ttfs"].append(ttfs)
    finally:
        stop(ours)
        stop(theirs)
    out: dict[str, Any] = {
        n: {
            "tokens_per_s": round(statistics.median(r["tps"]), 1),
            "ttft_s": round(statistics.median(r["ttft"]), 3),
            "first_sentence_s": round(statistics.median(r["ttfs"]), 3),
            "completion_tokens": r["tokens"],
        }
        for n, r in rows.items()
    }
    same = [" ".join(x.split()) == " ".join(y.split()) for x, y in zip(*texts.values(), strict=True)]
    out["same_text"] = same  # the same greedy answer (whitespace aside): the same work was timed
    a, b = out[NAMES[0]], out[NAMES[1]]
    out["ratio_tokens_per_s"] = round(a["tokens_per_s"] / b["tokens_per_s"], 2)
    out["ratio_first_sentence"] = round(b["first_sentence_s"] / a["first_sentence_s"], 2)
    return out


def search_overhead(n: int = 40) -> dict[str, Any]:
    """Each question in-process, then over HTTP, alternately (both see the same machine load)."""
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import search

    kb_path = sample_kb()
    qs = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()][:n]
    proc, url, key = start_expert(
        "serve-overhead-search", {"kbs": {"kestrel": {"path": str(kb_path)}}, "rate_limit_per_minute": 0}
    )
    local, remote = [], []
    try:
        with (
            KnowledgeBase.open(kb_path) as kb,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c,
        ):
            search(qs[0], kb)
            c.post("/v1/kbs/kestrel/search", json={"query": qs[0]})
            for q in qs:
                t0 = time.perf_counter()
                search(q, kb, k=5)
                t1 = time.perf_counter()
                c.post("/v1/kbs/kestrel/search", json={"query": q, "k": 5}).raise_for_status()
                local.append(t1 - t0)
                remote.append(time.perf_counter() - t1)
    finally:
        stop(proc)
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    return {
        "queries": len(qs),
        "in_process_p50_ms": ms(local),
        "http_p50_ms": ms(remote),
        "overhead_p50_ms": round(ms(remote) - ms(local), 1),
    }


def table(runs: list[dict[str, Any]], repeats: int) -> str:
    rows = "".join(
        f"| {i} | {g[NAMES[0]]['tokens_per_s']} | {g[NAMES[1]]['tokens_per_s']} | **{g['ratio_tokens_per_s']}x** "
        f"| {g[NAMES[0]]['first_sentence_s']} | {g[NAMES[1]]['first_sentence_s']} | **{g['ratio_first_sentence']}x** "
        f"| {g[NAMES[1]]['ttft_s']} |\n"
        for i, g in enumerate(runs, start=1)
    )
    med = lambda key: round(statistics.median(g[key] for g in runs), 2)  # noqa: E731
    return (
        f"# HTTP overhead ({machine()['cpus']} cores, 1 llama.cpp thread each, {title()}, "
        f"{MAX_TOKENS} tokens max; {len(runs)} runs, each the median of {repeats} requests)\n\n"
        "| run | ours tokens/s | theirs tokens/s | ratio | ours first sentence (s) "
        "| theirs first sentence (s) | ratio | theirs first token (s) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n" + rows + "\n"
        f"Median over runs: tokens/s ratio (ours / theirs) **{med('ratio_tokens_per_s')}x**, "
        f"first-sentence ratio (theirs / ours; above 1: ours sooner) **{med('ratio_first_sentence')}x**. "
        f"Both servers gave the same greedy text in {sum(sum(g['same_text']) for g in runs)} of "
        f"{sum(len(g['same_text']) for g in runs)} non-streamed requests (theirs asked with "
        "`repeat_penalty: 1.0`: its default of 1.1 changes the text).\n"
        "Ours = `expert serve` `/v1/chat/completions` (model alone), theirs = llama-cpp-python's "
        "`llama_cpp.server` (`--logits_all false`, as ours); tokens/s = completion tokens / whole non-streamed request. Our first "
        "content chunk is a complete checked sentence; theirs is one token, so their first sentence "
        "is timed where our sentence splitter finds one in their stream.\n"
    )


def title() -> str:
    from industry_expert.models.catalog import get_model

    m = get_model(MODEL)
    return f"{m.title} {m.quantization}"


def main() -> None:
    global MODEL
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=MODEL, choices=("smollm2", "qwen2.5-0.5b", "qwen2.5-1.5b"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    MODEL = args.model
    load = [round(os.getloadavg()[0], 1)]
    runs = [generation(args.repeats) for _ in range(args.runs)]
    srch = search_overhead()
    load.append(round(os.getloadavg()[0], 1))
    md = table(runs, args.repeats) + (
        f"\nSearch, {srch['queries']} sample questions, k=5: in-process `search` p50 {srch['in_process_p50_ms']} ms, "
        f"`POST /v1/kbs/kestrel/search` p50 {srch['http_p50_ms']} ms (HTTP + JSON: {srch['overhead_p50_ms']} ms), "
        "each question asked both ways in turn.\n\n"
        f"The machine was shared with other jobs: 1-minute load average {load[0]} at the start and "
        f"{load[1]} at the end on {machine()['cpus']} cores, so absolute numbers are low and noisy; "
        "each comparison interleaves the two sides so that both see the same load."
    )
    write_results(
        "serve_overhead" if MODEL == "smollm2" else f"serve_overhead_{MODEL}",
        {
            "machine": machine(),
            "model": MODEL,
            "load_average": load,
            "max_tokens": MAX_TOKENS,
            "repeats": args.repeats,
            "runs": runs,
            "search": srch,
        },
        md,
    )


if __name__ == "__main__":
    main()
