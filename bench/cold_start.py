"""Cold-start `expert search` (import, embedder load, search) and query latency idle and under
load, for the old embedder path (sentence-transformers on torch, spec ``minilm-torch``) and the
new one (the same MiniLM on onnxruntime, spec ``minilm``), side by side in one run.

Both KBs hold the sample company's data with identical vectors (the ONNX export reproduces torch:
the cosine check is part of this benchmark). Default thread settings (IE_NUM_THREADS unset).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import DATA, OUT, ROOT, machine, write_results

QUERY = "How tight should the impeller nut be on the mid-size centrifugal pump?"
QUERIES = [
    QUERY,
    "What does error E-214 mean?",
    "How long is the standard warranty?",
    "KP-3402-07 price",
    "Which grease goes into the bearings of the KF-560?",
]
RUNS = 3
VARIANTS = {"before (torch)": "minilm-torch", "after (onnx)": "minilm"}


def kb_for(spec: str) -> Path:
    from industry_expert.config import Settings
    from industry_expert.ingest.pipeline import ingest

    kb = OUT / f"coldstart-{spec}-kb"
    report = ingest([str(DATA)], kb, Settings(embedder=spec), explicit={"embedder"})
    if not report.ok:
        raise SystemExit(f"ingest failed: {report.to_dict()['errors']}")
    return kb


def child(kb: str) -> None:
    """Runs in a fresh interpreter: phase times as one JSON line."""
    t0 = time.perf_counter()
    import industry_expert.cli.main  # noqa: F401 - what `expert` imports before the command runs
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import retrieve

    t1 = time.perf_counter()
    opened = KnowledgeBase.open(kb)
    _ = opened.embedder.dim  # loads the model (torch: sentence-transformers; onnx: session)
    t2 = time.perf_counter()
    hits = retrieve(opened, QUERY, k=5)
    t3 = time.perf_counter()
    heavy = sorted(
        m
        for m in ("torch", "transformers", "bitsandbytes", "peft", "sentence_transformers")
        if m in sys.modules
    )
    print(
        json.dumps(
            {"import": t1 - t0, "load": t2 - t1, "search": t3 - t2, "hits": len(hits), "heavy_modules": heavy}
        )
    )


def cold_runs(kb: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("IE_NUM_THREADS", "OMP_NUM_THREADS")}
    phases, walls = [], []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(kb)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        phases.append(json.loads(out.stdout.strip().splitlines()[-1]))
        t0 = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "expert"), "search", QUERY, "--kb", str(kb), "-k", "5"],
            capture_output=True,
            env=env,
            check=True,
        )
        walls.append(time.perf_counter() - t0)
    med = {p: statistics.median(r[p] for r in phases) for p in ("import", "load", "search")}
    return {
        **med,
        "cli_wall_median": statistics.median(walls),
        "cli_walls": walls,
        "heavy_modules": phases[-1]["heavy_modules"],
    }


def _burn(stop: float) -> None:
    x = 0
    while time.time() < stop:
        x += 1


def latency(spec: str, busy: bool) -> dict:
    """Query embedding + hybrid search latency in this process, optionally with one busy process
    per core in the background (the oversubscription case)."""
    from industry_expert.kb import KnowledgeBase
    from industry_expert.retrieve.hybrid import retrieve

    kb = KnowledgeBase.open(OUT / f"coldstart-{spec}-kb")
    retrieve(kb, "warm-up", k=5)
    procs = []
    if busy:
        stop = time.time() + 120
        procs = [mp.Process(target=_burn, args=(stop,)) for _ in range(os.cpu_count() or 2)]
        for p in procs:
            p.start()
        time.sleep(0.5)
    times = []
    for q in QUERIES * 4:
        t0 = time.perf_counter()
        kb.embed([q])
        times.append(time.perf_counter() - t0)
    for p in procs:
        p.terminate()
        p.join()
    kb.close()
    return {
        "embed_p50_ms": 1000 * statistics.median(times),
        "embed_max_ms": 1000 * max(times),
        "n": len(times),
    }


def vectors_match() -> dict:
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.embedders import load_embedder

    with KnowledgeBase.open(OUT / "coldstart-minilm-kb") as kb:
        hits = kb.store.hits(kb.store.chunk_ids())
        texts = [h.text for h in hits.values()]
    a = load_embedder("minilm").embed_batch(texts)
    b = load_embedder("minilm-torch").embed_batch(texts)
    cos = (a * b).sum(axis=1)
    return {"texts": len(texts), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def main() -> None:
    os.environ.pop("IE_NUM_THREADS", None)
    kbs = {name: kb_for(spec) for name, spec in VARIANTS.items()}
    load_before = os.getloadavg()[0]
    cold = {name: cold_runs(kb) for name, kb in kbs.items()}
    lat = {
        name: {"idle": latency(spec, False), "busy": latency(spec, True)} for name, spec in VARIANTS.items()
    }
    match = vectors_match()
    load = (load_before, os.getloadavg()[0])
    lines = [
        f"Cold `expert search` on the sample KB ({RUNS} fresh processes each; median seconds) and query "
        "embedding latency, default thread settings. The default retrieval reranks its best 10 "
        "chunks by MaxSim over the embedder's token vectors (~0.35 s, bench/results/rerank_latency.md): "
        "the ONNX path does it inside 'search'; the torch path gives no token vectors, so it skips it.",
        "",
        "| embedder path | import | model load | search (embed + retrieve) | `expert search` wall | torch & co. imported |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in cold.items():
        lines.append(
            f"| {name} | {c['import']:.2f} | {c['load']:.2f} | {c['search']:.3f} | **{c['cli_wall_median']:.2f}** | {', '.join(c['heavy_modules']) or 'none'} |"
        )
    lines += [
        "",
        f"| embedder path | query embedding p50 idle (ms) | p50 with {os.cpu_count()} busy processes (ms) | max busy (ms) |",
        "|---|---|---|---|",
    ]
    for name, lt in lat.items():
        lines.append(
            f"| {name} | {lt['idle']['embed_p50_ms']:.1f} | {lt['busy']['embed_p50_ms']:.1f} | {lt['busy']['embed_max_ms']:.1f} |"
        )
    lines += [
        "",
        f"ONNX vs torch vectors on all {match['texts']} sample chunks: min cosine {match['min_cosine']:.7f}, "
        f"mean {match['mean_cosine']:.7f} (same vector space: same embedder id; the manifest's `variant` says which ran).",
        "",
        f"Load average (1 min) on the {os.cpu_count()} cores: {load[0]:.1f} when the timings started, {load[1]:.1f} "
        "at the end (other processes share this machine: read times as upper bounds).",
    ]
    data = {"machine": machine(), "loadavg": load, "cold": cold, "latency": lat, "vectors": match}
    write_results("cold_start", data, "\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
