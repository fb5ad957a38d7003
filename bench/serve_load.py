"""Load on `expert serve`: 1, 8, 32 and 64 concurrent clients, each looping over a mix of searches
(80%) and chat completions (20%, checked RAG answers) for a fixed time. Reports throughput,
p50/p95/p99 latency per kind, errors (anything but 2xx, the deliberate 503 of a full queue and 429;
a request the client gave up on after ``TIMEOUT_S`` is counted apart), and
that the server is still up after the 64-client run. The server runs with default settings (rate
limit off: one key drives every client); ``--model`` picks the generator (its profile sets the
answer settings) and ``--answer KEY=VALUE`` pins answer settings. Also records the server's RSS
(sampled every 0.5 s) and the machine's load average before and after each level.

    python bench/serve_load.py [--seconds 20] [--levels 1,8,32,64] [--search-only-seconds 30]
        [--model qwen2.5-1.5b] [--answer k=4 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from typing import Any

import httpx

from _common import QUESTIONS, machine, sample_kb, write_results
from _serve import start_expert, stop

CHAT_SHARE = 0.2
TIMEOUT_S = 300.0
"""How long a client waits for one response before giving up (counted as a timeout)."""


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000, 1)


async def client(
    c: httpx.AsyncClient,
    rng: random.Random,
    questions: list[str],
    until: float,
    rows: list[Any],
    chat_share: float = CHAT_SHARE,
) -> None:
    while time.monotonic() < until:
        q = rng.choice(questions)
        kind = "chat" if rng.random() < chat_share else "search"
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


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (Linux ``/proc``), MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


async def sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.5)


async def level(
    url: str, key: str, n: int, seconds: float, questions: list[str], pid: int, chat_share: float = CHAT_SHARE
) -> dict[str, Any]:
    rows: list[Any] = []
    limits = httpx.Limits(max_connections=n + 4)
    headers = {"Authorization": f"Bearer {key}"}
    load_before, peak, done = os.getloadavg()[0], [0.0], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, peak, done))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT_S, limits=limits) as c:
        t0 = time.monotonic()
        await asyncio.gather(
            *(client(c, random.Random(i), questions, t0 + seconds, rows, chat_share) for i in range(n))
        )
        wall = time.monotonic() - t0
    done.set()
    await sampler
    out: dict[str, Any] = {
        "clients": n,
        "chat_share": chat_share,
        "seconds": round(wall, 1),
        "requests": len(rows),
    }
    ok = [r for r in rows if r[1] == 200]
    out["throughput_rps"] = round(len(ok) / wall, 2)
    out["busy_503"] = sum(1 for r in rows if r[1] == 503)
    out["rate_limited_429"] = sum(1 for r in rows if r[1] == 429)
    timeout = "transport:ReadTimeout"
    out["client_timeouts"] = {
        k: sum(1 for r in rows if r[1] == timeout and r[0] == k) for k in ("search", "chat")
    }
    out["errors"] = sum(1 for r in rows if r[1] not in (200, 429, 503, timeout))
    bad = [f"{r[0]}:{r[1]}" for r in rows if r[1] not in (200, 429, 503, timeout)]
    out["error_statuses"] = {e: bad.count(e) for e in sorted(set(bad))}
    out["server_rss_mb"] = {"peak": peak[0], "after": rss_mb(pid)}
    out["load_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    for kind in ("search", "chat"):
        lat = [r[2] for r in ok if r[0] == kind]
        out[kind] = {"ok": len(lat), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99)}
    return out


def table(rows: list[dict[str, Any]], alive: bool, settings: dict[str, Any]) -> str:
    lines = [
        "| clients | s | ok req/s | search ok | search p50 / p95 / p99 ms | chat ok | chat p50 / p95 / p99 ms "
        "| 503 (queue full) | client timeouts search / chat | errors | server RSS peak / after, MB | load 1 min before / after |",
        "|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        s, c, m, ld = r["search"], r["chat"], r["server_rss_mb"], r["load_1min"]
        lines.append(
            f"| {r['clients']}{' (search only)' if r['chat_share'] == 0 else ''} | {r['seconds']} | {r['throughput_rps']} | {s['ok']} | "
            f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} | {c['ok']} | {c['p50_ms']} / {c['p95_ms']} / "
            f"{c['p99_ms']} | {r['busy_503']} | {r['client_timeouts']['search']} / {r['client_timeouts']['chat']} | {r['errors']} | {m['peak']} / {m['after']} | "
            f"{ld['before']} / {ld['after']} |"
        )
    a = settings["answer"]
    lines.append(f"\nserver up after the last level: {'yes' if alive else 'NO'}")
    lines.append(
        f"\nDefault serve settings (chat `queue_size` {settings['queue_size']}, `search_queue_size` "
        f"{settings['search_queue_size']}, default search with the rerank on kept token vectors), rate limit "
        f"off (one key drives every client); generator `{a.get('model') or 'default'}` with answer settings "
        f"{', '.join(f'{k}={v}' for k, v in a.items() if k != 'model') or 'as its profile sets them'}. "
        "A level ends when its last request returns, so queued chats stretch it past its nominal time. "
        "Chat latency is llama.cpp on one thread plus the wait behind the queued chats; beyond the queues "
        "the server answers 503 with `Retry-After` at once (counted, not errors). The search-only row: one "
        "client searching with no chat generating beside it. Client timeouts: requests "
        f"the client gave up on after {TIMEOUT_S:g} s (the server logs them 499). Before the first level one "
        "search and one chat warm the server up (not counted). Errors: any status other "
        "than 200, 429 and 503."
    )
    return "\n".join(lines)


async def warmup(url: str, key: str, question: str) -> dict[str, float]:
    """One search and one chat before the first level (not counted): first-request costs."""
    out = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT_S) as c:
        for kind, path, body in (
            ("search", "/v1/kbs/kestrel/search", {"query": question, "k": 5}),
            (
                "chat",
                "/v1/chat/completions",
                {"model": "kestrel", "messages": [{"role": "user", "content": question}]},
            ),
        ):
            t0 = time.monotonic()
            r = await c.post(path, json=body)
            r.raise_for_status()
            out[f"{kind}_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return out


def answer_section(model: str | None, pairs: list[str]) -> dict[str, Any]:
    """The config's ``answer:`` section from ``--model`` and ``--answer KEY=VALUE`` (JSON values)."""
    out: dict[str, Any] = {"model": model} if model else {}
    for pair in pairs:
        k, _, v = pair.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--levels", default="1,8,32,64")
    ap.add_argument(
        "--search-only-seconds",
        type=float,
        default=30,
        help="first, one client searching only for this long (the search latency without a chat "
        "generating beside it; 0: skip)",
    )
    ap.add_argument("--model", default=None, help="generator (default: the server's default)")
    ap.add_argument("--answer", action="append", default=[], help="KEY=VALUE of the answer section")
    ap.add_argument("--results", default="serve_load", help="bench/results/NAME.md/.json")
    args = ap.parse_args()
    from industry_expert.config import ServeSettings

    kb = sample_kb()
    questions = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()]
    serve = {"kbs": {"kestrel": {"path": str(kb)}}, "rate_limit_per_minute": 0}
    answer = answer_section(args.model, args.answer)
    load_start = os.getloadavg()
    proc, url, key = start_expert("serve-load", serve, answer=answer)
    try:
        warm = asyncio.run(warmup(url, key, questions[0]))
        idle_rss = rss_mb(proc.pid)
        results = []
        if args.search_only_seconds > 0:
            results.append(
                asyncio.run(level(url, key, 1, args.search_only_seconds, questions, proc.pid, 0.0))
            )
        for n in filter(None, args.levels.split(",")):
            results.append(asyncio.run(level(url, key, int(n), args.seconds, questions, proc.pid)))
        alive = httpx.get(url + "/healthz", timeout=10).status_code == 200
    finally:
        stop(proc)
    defaults = ServeSettings()
    settings = {
        "seconds_per_level": args.seconds,
        "chat_share": CHAT_SHARE,
        "queue_size": defaults.queue_size,
        "search_queue_size": defaults.search_queue_size,
        "rate_limit_per_minute": 0,
        "answer": answer,
    }
    data = {
        "machine": machine(),
        "settings": settings,
        "levels": results,
        "alive_after": alive,
        "warmup": warm,
        "server_rss_mb_warm": idle_rss,
        "load_avg_start": [round(x, 2) for x in load_start],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
    }
    title = f"# expert serve under load ({machine()['cpus']} cores, {args.seconds:g} s per level)"
    notes = (
        f"\n\nServer RSS after the warm-up {idle_rss} MB (warm-up search {warm['search_ms']} ms, chat "
        f"{warm['chat_ms']} ms). Load average (1 / 5 / 15 min) at the start "
        f"{' / '.join(map(str, data['load_avg_start']))}, at the end {' / '.join(map(str, data['load_avg_end']))}: "
        "the cores are shared with whatever else runs on the machine."
    )
    write_results(args.results, data, f"{title}\n\n{table(results, alive, settings)}{notes}")


if __name__ == "__main__":
    main()
