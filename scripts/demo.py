"""`make demo`: build a knowledge base from the bundled sample company and query it, through the
real `expert` CLI (each command is printed before it runs)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo_out"
KB = OUT / "kestrel-kb"
EXPERT = str(Path(sys.executable).with_name("expert"))

SEARCHES = [
    ["How tight should the impeller nut be on the mid-size centrifugal pump?", "-k", "3"],
    ["What does error E-214 mean and which part fixes it?", "-k", "3"],
    ["seal kit price", "-k", "2", "--filter", "type=csv"],
]


def run(*args: str, check: bool = True) -> None:
    shown = ["expert", *args[1:]] if args[0] == EXPERT else list(args)
    print(f"\n$ {shlex.join(str(a) for a in shown)}", flush=True)
    proc = subprocess.run(args, cwd=ROOT, env={**os.environ})
    if check and proc.returncode != 0:
        sys.exit(proc.returncode)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    data = os.path.relpath(ROOT / "examples" / "kestrel" / "data", ROOT)
    kb = os.path.relpath(KB, ROOT)
    run(EXPERT, "ingest", data, "--kb", kb)
    run(EXPERT, "kb", "stats", "--kb", kb)
    for query, *opts in SEARCHES:
        run(EXPERT, "search", query, "--kb", kb, *opts)


if __name__ == "__main__":
    main()
