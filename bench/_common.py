"""Shared set-up for the benchmarks: paths, thread pinning, result writing."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
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


def git_show(rev: str, path: str) -> str:
    """The text of ``path`` (relative to the repository) at commit ``rev``: for replaying an
    earlier version of a pipeline stage on today's data."""
    import subprocess

    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


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


def cached_answers(
    cache: Path,
    load: Callable[[], Any],
    questions: dict[str, list[dict[str, Any]]],
    max_tokens: int,
    label: str,
) -> dict[str, Any]:
    """Every question's answer by the generator ``load()`` returns, the model alone (`expert ask`'s
    path without a KB, greedy, ``max_tokens``), scored with the question's key facts and regex.
    Cached per question in ``cache`` (written every 10 answers, so a run resumes); ``load`` runs
    only when some question is not answered yet. ``questions``: set name -> its questions; the
    keys of the result are ``<set>/<question id>``."""
    from industry_expert.config import AnswerSettings
    from industry_expert.evaluate.metrics import answer_correct
    from industry_expert.generate.grounded import ask

    done: dict[str, Any] = json.loads(cache.read_text()) if cache.is_file() else {}
    todo = [(s, q) for s, qs in questions.items() for q in qs if f"{s}/{q['id']}" not in done]
    if not todo:
        return done
    gen = load()
    settings = AnswerSettings(max_tokens=max_tokens)
    for i, (s, q) in enumerate(todo):
        t0 = time.perf_counter()
        a = ask(q["question"], None, gen, settings=settings)
        done[f"{s}/{q['id']}"] = {
            "answer": a.answer,
            "correct": answer_correct(a.answer, q.get("key_facts", []), q["regex"]),
            "s": round(time.perf_counter() - t0, 2),
        }
        if i % 10 == 9 or i == len(todo) - 1:
            cache.write_text(json.dumps(done, indent=0))
    print(f"answered {len(todo)} questions with {label}", flush=True)
    return done
