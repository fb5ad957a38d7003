"""Load on `expert serve`: 1, 8, 32 and 64 concurrent clients, each looping over a mix of searches
(80%) and chat completions (20%, checked RAG answers) for a fixed time. Reports throughput,
p50/p95/p99 latency per kind, errors (anything but 2xx and the deliberate 503 of a full queue), and
that the server is still up after the 64-client run.

    python bench/serve_load.py [--seconds 20] [--levels 1,8,32,64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

import httpx

from _common import QUESTIONS, machine, sample_kb, write_results
from _serve import start_expert, stop

CHAT_SHARE = 0.2


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000, 1)


async def client(
    c: httpx.AsyncClient, rng: random.Random, questions: list[str], until: float, rows: list[Any]
) -> None:
    while time.monotonic() < until:
        q = rng.choice(questions)
        kind = "chat" if rng.random() < CHAT_SHARE else "search"
        if kind == "chat":
            req = c.post(
                "/v1/chat/completions",
                json={"model": "kestrel", "messages": [{"role": "user", "content": q}]},
            )
        else:
            req = c.post("/v1/kbs/kestrel/search", json={"query": q, "k": 5})
        t0 = time.monotonic()
        try:
            status = (await req).status_code
        except httpx.HTTPError as exc:
            status = f"transport:{exc.__class__.__name__}"
        rows.append((kind, status, time.monotonic() - t0))
        if status == 503:
            await asyncio.sleep(0.5)  # a polite client honours Retry-After (shortened for the benchmark)


async def level(url: str, key: str, n: int, seconds: float, questions: list[str]) -> dict[str, Any]:
    rows: list[Any] = []
    limits = httpx.Limits(max_connections=n + 4)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as c:
        t0 = time.monotonic()
        await asyncio.gather(*(client(c, random.Random(i), questions, t0 + seconds, rows) for i in range(n)))
        wall = time.monotonic() - t0
    out: dict[str, Any] = {"clients": n, "seconds": round(wall, 1), "requests": len(rows)}
    ok = [r for r in rows if r[1] == 200]
    out["throughput_rps"] = round(len(ok) / wall, 2)
    out["busy_503"] = sum(1 for r in rows if r[1] == 503)
    out["errors"] = sum(1 for r in rows if r[1] not in (200, 503))
    for kind in ("search", "chat"):
        lat = [r[2] for r in ok if r[0] == kind]
        out[kind] = {"ok": len(lat), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99)}
    return out


def table(rows: list[dict[str, Any]], alive: bool) -> str:
    lines = [
        "| clients | ok req/s | search ok | search p50 / p95 / p99 ms | chat ok | chat p50 / p95 / p99 ms | 503 (queue full) | errors |",
        "|---:|---:|---:|---|---:|---|---:|---:|",
    ]
    for r in rows:
        s, c = r["search"], r["chat"]
        lines.append(
            f"| {r['clients']} | {r['throughput_rps']} | {s['ok']} | {s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} | "
            f"{c['ok']} | {c['p50_ms']} / {c['p95_ms']} / {c['p99_ms']} | {r['busy_503']} | {r['errors']} |"
        )
    lines.append(f"\nserver up after the last level: {'yes' if alive else 'NO'}")
    lines.append(
        "\nA level ends when its last request returns, so queued chats stretch it past its nominal time. "
        "Chat latency is llama.cpp on one thread (prompt of 3 passages + up to 64 tokens) plus the wait "
        "behind up to `queue_size` = 8 others; beyond that the server answers 503 at once (counted, not errors)."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--levels", default="1,8,32,64")
    args = ap.parse_args()
    kb = sample_kb()
    questions = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()]
    serve = {"kbs": {"kestrel": {"path": str(kb)}}, "rate_limit_per_minute": 0, "queue_size": 8}
    proc, url, key = start_expert("serve-load", serve, answer={"k": 3, "max_tokens": 64})
    try:
        results = [
            asyncio.run(level(url, key, int(n), args.seconds, questions)) for n in args.levels.split(",")
        ]
        alive = httpx.get(url + "/healthz", timeout=10).status_code == 200
    finally:
        stop(proc)
    settings = {
        "seconds_per_level": args.seconds,
        "chat_share": CHAT_SHARE,
        "queue_size": 8,
        "answer_max_tokens": 64,
        "k": 3,
    }
    write_results(
        "serve_load",
        {"machine": machine(), "settings": settings, "levels": results, "alive_after": alive},
        f"# expert serve under load ({machine()['cpus']} cores, {args.seconds:g} s per level)\n\n{table(results, alive)}",
    )


if __name__ == "__main__":
    main()
