"""Shared set-up for the benchmarks: paths, thread pinning, result writing."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "kestrel"
DATA = SAMPLE / "data"
QUESTIONS = SAMPLE / "questions.jsonl"
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "threads": os.environ.get("IE_NUM_THREADS", "default"),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def write_results(name: str, data: dict[str, Any], table: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(table + "\n", encoding="utf-8")
    print(table)


def ingest_when_free(src: Path, kb: Path, wait_s: float = 900.0) -> Path:
    """Ingest ``src`` into ``kb`` (incremental: cheap when nothing changed), waiting while another
    benchmark process holds the KB's ingest lock (benchmarks share bench/out KBs)."""
    import time

    from industry_expert.errors import KBError
    from industry_expert.ingest.pipeline import ingest

    t0 = time.monotonic()
    while True:
        try:
            report = ingest([str(src)], kb)
            break
        except KBError as exc:
            if "another ingest" not in str(exc) or time.monotonic() - t0 > wait_s:
                raise
            time.sleep(5)
    if not report.ok:
        raise SystemExit(f"{kb}: ingest failed: {report.to_dict()['errors']}")
    return kb


def gguf_of(adapter: Path) -> Path:
    """The adapter's GGUF LoRA next to it (``<adapter>.gguf``, `expert finetune export`), exported
    once: how the benchmarks run an adapter, on llama.cpp over the bundled Q4_1 model."""
    from industry_expert.finetune.merge import export_lora_gguf

    out = adapter.with_suffix(".gguf")
    if not out.is_file():
        export_lora_gguf(adapter, out)
    return out


def sample_kb() -> Path:
    """The sample company's KB under bench/out (incremental: re-running is cheap)."""
    return ingest_when_free(DATA, OUT / "kestrel-kb")
