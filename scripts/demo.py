"""`make demo`: the main job on the bundled sample company, through the real `expert` CLI (each
command is printed before it runs): build a knowledge base, search it, answer with citations,
evaluate the model alone against RAG, and print the advisor's recommendation."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo_out"
EXPERT = str(Path(sys.executable).with_name("expert"))
SAMPLE = "examples/kestrel"
KB = "demo_out/kestrel-kb"

SEARCHES = [
    ["How tight should the impeller nut be on the mid-size centrifugal pump?", "-k", "3"],
    ["seal kit price KF-340", "-k", "2", "--filter", "type=csv"],
]
QUESTIONS = [
    "How long is the standard warranty on a Kestrel pump?",
    "Which grease is used for the KF series bearings?",
]
EVAL_IDS = 16  # a quick slice of the 99 labelled questions (all of them: `expert eval` without --limit)


def run(*args: str) -> None:
    print(f"\n$ {shlex.join(['expert', *args])}", flush=True)
    proc = subprocess.run([EXPERT, *args], cwd=ROOT, env=os.environ)
    if proc.returncode != 0:
        sys.exit(proc.returncode)


def eval_slice() -> str:
    """A mixed slice: some of each question type, unanswerable ones included."""
    qs = [json.loads(x) for x in (ROOT / SAMPLE / "questions.jsonl").read_text().splitlines() if x.strip()]
    picked: list[dict] = []
    for kind in ("doc", "table", "db", "multi", "unanswerable"):
        picked += [q for q in qs if q["type"] == kind][: EVAL_IDS // 5 + (kind == "doc")]
    path = OUT / "eval-questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in picked), encoding="utf-8")
    return os.path.relpath(path, ROOT)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    run("ingest", f"{SAMPLE}/data", "--kb", KB)
    run("kb", "stats", "--kb", KB)
    for query, *opts in SEARCHES:
        run("search", query, "--kb", KB, *opts)
    for question in QUESTIONS:
        run("ask", question, "--kb", KB, "-k", "4")
    run("eval", eval_slice(), "--kb", KB, "--out", "demo_out/eval")
    run("advise", "--kb", KB, "--data", f"{SAMPLE}/finetune/train.jsonl", "--eval", "demo_out/eval")
    print(f"\nHTML report: {OUT / 'eval' / 'report.html'}")
    from demo_serve import main as demo_serve  # the same KB over HTTP (scripts/demo_serve.py)

    demo_serve(KB)


if __name__ == "__main__":
    main()
