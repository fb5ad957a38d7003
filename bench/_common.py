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


def sample_kb() -> Path:
    """The sample company's KB under bench/out (incremental: re-running is cheap)."""
    from industry_expert.ingest.pipeline import ingest

    kb = OUT / "kestrel-kb"
    report = ingest([str(DATA)], kb)
    if not report.ok:
        raise SystemExit(f"ingest failed: {report.to_dict()['errors']}")
    return kb
