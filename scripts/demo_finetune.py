"""`make demo-finetune`: LoRA-tune the bundled SmolLM2 on the sample company's chat data (CPU,
about 10 minutes), show a question it could not answer before and can after; train the grounded
adapter on RAFT data from the sample's KB (`expert data from-kb --raft`); then evaluate all four
systems (base, RAG, fine-tuned, RAG + fine-tuned, with the grounded adapter) and ask the advisor."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERT = str(Path(sys.executable).with_name("expert"))
SAMPLE = ROOT / "examples" / "kestrel"
ADAPTER = "demo_out/kestrel-lora"
RAFT = "demo_out/kestrel-raft.jsonl"
GROUNDED = "demo_out/kestrel-grounded"
KB = "demo_out/kestrel-kb"


def run(*args: str) -> None:
    print(f"\n$ {shlex.join(['expert', *args])}", flush=True)
    if subprocess.run([EXPERT, *args], cwd=ROOT, env=os.environ).returncode != 0:
        sys.exit(1)


def before_and_after() -> None:
    from industry_expert.evaluate.metrics import answer_correct
    from industry_expert.finetune.base import resolve_base
    from industry_expert.models.generators import generate, load_generator

    base = load_generator(f"hf:{resolve_base('smollm2')}")
    tuned = load_generator(None, adapter=str(ROOT / ADAPTER))
    system = {"role": "system", "content": "You are Kestrel Fluidworks' service assistant."}
    held = [
        json.loads(x) for x in (SAMPLE / "finetune" / "heldout.jsonl").read_text().splitlines() if x.strip()
    ]
    for q in held:
        msgs = [system, {"role": "user", "content": q["question"]}]
        after = generate(tuned, msgs, max_tokens=48)
        if not answer_correct(after, q["key_facts"], q["regex"]):
            continue
        before = generate(base, msgs, max_tokens=48)
        if answer_correct(before, q["key_facts"], q["regex"]):
            continue
        print(
            f"\nQ (held out, never seen in training): {q['question']}\n  before: {before.strip()}\n"
            f"  after:  {after.strip()}\n  expected: {q['answer']}"
        )
        return
    print("\nno held-out question flipped from wrong to right in this run")


def main() -> None:
    (ROOT / "demo_out").mkdir(exist_ok=True)
    run("ingest", "examples/kestrel/data", "--kb", KB)
    run("data", "check", "examples/kestrel/finetune/train.jsonl")
    run(
        "finetune",
        "examples/kestrel/finetune/train.jsonl",
        "--out",
        ADAPTER,
        "--config",
        "configs/smollm2-cpu-lora.yaml",
    )
    before_and_after()
    # grounded answering: RAFT examples in `expert ask`'s own prompt format, from the KB's training part
    run(
        "data",
        "from-kb",
        "--kb",
        KB,
        "--raft",
        "--phrasings",
        "1",
        "--limit",
        "24",
        "--out",
        RAFT,
        "--overwrite",
    )
    run("finetune", RAFT, "--out", GROUNDED, "--config", "configs/smollm2-cpu-raft.yaml")
    # as a GGUF LoRA: llama.cpp applies it to the bundled Q4_1 model, the engine RAG answers with
    run("finetune", "export", GROUNDED, "--out", f"{GROUNDED}.gguf", "--overwrite")
    run(
        "eval",
        "examples/kestrel/questions.jsonl",
        "--kb",
        KB,
        "--adapter",
        f"{GROUNDED}.gguf",
        "--out",
        "demo_out/eval-finetune",
        "--limit",
        "30",
    )
    run(
        "advise",
        "--kb",
        KB,
        "--data",
        "examples/kestrel/finetune/train.jsonl",
        "--eval",
        "demo_out/eval-finetune",
    )


if __name__ == "__main__":
    main()
