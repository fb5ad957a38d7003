"""Does a grounded-answering adapter carry to a knowledge base it never saw? Leave-one-KB-out.

    python bench/grounded_adapter.py [--stage all|train|eval|report] [--per-kb 24] [--per-set 30]

For each KB X in {kestrel, git, sqlite}: RAFT data (`expert data from-kb --raft`: a question, the
passage that answers it among hard-negative distractors, one example in five distractors only and
answered with the abstention; the reserved evaluation fifth never enters) from the OTHER two KBs,
a LoRA adapter trained on it (`expert finetune`, fixed schedule), merged and exported to GGUF at the
bundled model's own quantization (Q4_1), then X's questions answered by `ask` (the path of
`expert ask`, its default settings) with the plain bundled model and with the merged model.
Every training prompt is checked to be byte-identical to the prompt `ask` renders for the same
passages. Every step caches under bench/out/grounded/ (data, adapters, merged models, one answer
per line), so an interrupted run resumes; `--stage train` and `--stage eval` can run side by side
(eval waits for each merged model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _common import OUT, ROOT, machine, write_results
from answer_fallback import answer_rows, cached_answers, kb_for, metrics, question_sets, row_line
from industry_expert.config import AnswerSettings, Settings
from industry_expert.evaluate.questions import Question
from industry_expert.evaluate.stats import mcnemar_exact

SETS = ("kestrel", "git", "sqlite")
G = OUT / "grounded"
ANSWER = AnswerSettings(extractive_fallback=False)
"""`expert ask`'s defaults; the shipped extractive fallback is applied offline (as in
bench/answer_fallback.py), so each system is reported with and without it."""
RECIPE = ROOT / "configs" / "smollm2-cpu-raft.yaml"
TRAIN = Settings.load(RECIPE).finetune
"""Chosen before any held-out result was seen (CPU budget: one pass over 24 examples, batch 1)."""
QUANT = "q4_1"  # the bundled GGUF's own quantization, so both systems lose the same to it


def raft(name: str, per_kb: int) -> Path:
    from industry_expert.finetune.synth import write_from_kb

    path = G / f"raft-{name}.jsonl"
    if not path.is_file():
        G.mkdir(parents=True, exist_ok=True)
        print(write_from_kb(kb_for(name, {}), path, raft=True, phrasings=1, seed=0, limit=per_kb), flush=True)
    return path


def prompt_identity(name: str) -> dict:
    """Each RAFT prompt against what `ask` renders for the same passages (generate.context.prepare
    with the bundled generator) and what training renders (finetune.encode's header)."""
    from transformers import AutoTokenizer

    from industry_expert.finetune.lora import chat_template
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.checkpoints import bundled_hf_checkpoint
    from industry_expert.models.generators import load_generator
    from industry_expert.models.templates import render

    gen = load_generator()
    tok = AutoTokenizer.from_pretrained(bundled_hf_checkpoint())
    template = chat_template(tok, "llama")
    rows = [json.loads(x) for x in (G / f"raft-{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    same_ask = same_train = 0
    with KnowledgeBase.open(kb_for(name, {})) as kb:
        from industry_expert.generate.context import prepare

        for r in rows:
            msgs = r["messages"][:-1]
            by_id = kb.store.hits(r["chunk_ids"])
            hits = [by_id[c] for c in r["chunk_ids"]]
            question = msgs[-1]["content"].rsplit("Question: ", 1)[1]
            _, _, prompt = prepare(gen, question, hits, ANSWER)
            same_ask += prompt == gen.render(msgs)
            same_train += prompt == render(template, msgs, tok.bos_token or "", tok.eos_token or "", True)
    return {"examples": len(rows), "identical_to_ask": same_ask, "identical_to_training": same_train}


def own_adapter(name: str, examples: int) -> Path:
    """The adapter for one KB from its own RAFT data (the per-KB recipe; bench/four_systems.py)."""
    from industry_expert.finetune.synth import write_from_kb

    data = G / f"raft-{name}-own.jsonl"
    if not data.is_file():
        print(
            write_from_kb(kb_for(name, {}), data, raft=True, phrasings=1, seed=1, limit=examples), flush=True
        )
    return train_on(data, G / f"adapter-{name}", G / f"train-{name}.json")


def train(held_out: str, per_kb: int) -> Path:
    data = G / f"train-minus-{held_out}.jsonl"
    if not data.is_file():
        data.write_text("".join(raft(n, per_kb).read_text(encoding="utf-8") for n in SETS if n != held_out))
    return train_on(data, G / f"adapter-minus-{held_out}", G / f"train-minus-{held_out}.json")


def train_on(data: Path, adapter: Path, log: Path) -> Path:
    from industry_expert.finetune.lora import finetune

    if (adapter / "expert_adapter.json").is_file():
        return adapter
    t0 = time.perf_counter()
    t_step = time.perf_counter()

    def step(n: int) -> None:
        print(f"  step {n} {time.perf_counter() - t_step:.0f}s", flush=True)

    report = finetune(data, adapter, TRAIN, on_step=step)
    log.write_text(
        json.dumps({"seconds": time.perf_counter() - t0, "report": report.to_dict()}, indent=2, default=str)
    )
    return adapter


def merged(held_out: str) -> Path:
    from industry_expert.finetune import merge as merge_mod

    out = G / f"merged-minus-{held_out}"
    gguf = out / f"model-{QUANT}.gguf"
    if not gguf.is_file():
        merge_mod.QUANT_TYPES.setdefault(QUANT, 3)  # LLAMA_FTYPE_MOSTLY_Q4_1
        merge_mod.merge(G / f"adapter-minus-{held_out}", out, gguf=True, quant=QUANT)
        (out / "hf").exists() and __import__("shutil").rmtree(out / "hf")
    return gguf


def in_fixed_order(qs: list[Question]) -> list[Question]:
    """The questions in an order fixed by a hash of their ids, so that any prefix (a run cut by
    the clock) is an unbiased subset, answerable and unanswerable mixed."""
    return sorted(qs, key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())


def answers(
    system: str, name: str, qs: list[Question], model: str | None, cached_only: bool = False
) -> list[dict]:
    """One `ask` per question, cached one line per answer (resumable), plus the extractive
    candidate the shipped fallback would quote (cheap, recomputed). ``cached_only``: the questions
    already answered, nothing new."""
    from industry_expert.models.generators import load_generator

    cache = G / "answers" / f"{system}-{name}.jsonl"
    done = cached_answers(cache)
    qs = [q for q in qs if q.id in done] if cached_only else qs
    loaded: list = []

    def gen():  # type: ignore[no-untyped-def]
        if not loaded:
            loaded.append(load_generator(model))
        return loaded[0]

    return answer_rows(qs, kb_for(name, {}), gen, ANSWER, cache, f"{system} {name}")


def wait_for(path: Path, limit_s: float) -> bool:
    t0 = time.monotonic()
    while not path.is_file():
        if time.monotonic() - t0 > limit_s:
            return False
        time.sleep(20)
    return True


def stage_train(per_kb: int, only: str | None) -> None:
    for name in SETS:
        raft(name, per_kb)
    for name in [only] if only else SETS:
        print(f"train without {name}", flush=True)
        train(name, per_kb)
        merged(name)


def stage_eval(per_set: int, per_test: int, wait_s: float, only: str | None) -> None:
    sets = question_sets(per_set, per_test)
    for name in [only] if only else SETS:
        answers("rag", name, sets[name], None)
    for name in [only] if only else SETS:
        gguf = G / f"merged-minus-{name}" / f"model-{QUANT}.gguf"
        if wait_for(gguf, wait_s):
            answers("grounded", name, in_fixed_order(sets[name]), str(gguf))


def summary(rows: list[dict], t: float | None) -> dict:
    m = metrics(rows, t, "unsupported")
    times = [r["answer"].timings.get("total_s", 0.0) for r in rows]
    return {**m, "s_per_answer": sum(times) / len(times)}


def report(per_set: int, per_test: int, per_kb: int) -> None:
    sets = question_sets(per_set, per_test)
    t = AnswerSettings().extractive_threshold
    results: dict = {}
    lines = [
        "| held-out KB | system | n | correct [95% CI] | false abstention | abstains when unanswerable (n) "
        "| citation precision | extractive answers | s/answer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    counts: dict[str, str] = {}
    for name in SETS:
        if not (G / "answers" / f"grounded-{name}.jsonl").is_file():
            notes.append(f"- {name}: the adapter run did not finish (no answers)")
            continue
        # the questions both systems answered (the adapter's run may have been cut by the clock)
        gr_rows = answers("grounded", name, in_fixed_order(sets[name]), None, cached_only=True)
        both = {r["q"].id for r in gr_rows} & {
            r["q"].id for r in answers("rag", name, sets[name], None, True)
        }
        gr_rows = [r for r in gr_rows if r["q"].id in both]
        rag_rows = answers("rag", name, [r["q"] for r in gr_rows], None, cached_only=True)
        counts[name] = f"{len(gr_rows)} of {len(sets[name])}"
        same = sum(
            [(h.source, h.chunk_id) for h in a["answer"].passages]
            == [(h.source, h.chunk_id) for h in b["answer"].passages]
            for a, b in zip(rag_rows, gr_rows)
        )
        r: dict = {"prompt_identity": prompt_identity(name), "same_passages": same}
        notes.append(
            f"- {name}: both systems were shown the same passages on {same} of {len(rag_rows)} questions"
        )
        for label, rows in (("RAG", rag_rows), ("RAG + grounded adapter", gr_rows)):
            for fb, tt in (("", None), (" + fallback", t)):
                r[label + fb] = m = summary(rows, tt)
                lines.append(row_line(name, label + fb, m) + f" {m['s_per_answer']:.1f} |")
        for fb in ("", " + fallback"):
            a, b = r["RAG + grounded adapter" + fb], r["RAG" + fb]
            p = mcnemar_exact(a["correct_list"], b["correct_list"])
            only_a = sum(x > y for x, y in zip(a["correct_list"], b["correct_list"]))
            only_b = sum(y > x for x, y in zip(a["correct_list"], b["correct_list"]))
            r[f"mcnemar{fb}"] = {"p": p, "only_adapter": only_a, "only_rag": only_b}
            notes.append(
                f"- {name}{fb}: adapter {a['correct'] - b['correct']:+.3f} correct vs RAG "
                f"(exact McNemar p={p:.3g}; {only_a} vs {only_b} questions right only by one)"
            )
        results[name] = r
    train_info = {
        n: json.loads((G / f"train-minus-{n}.json").read_text())
        for n in SETS
        if (G / f"train-minus-{n}.json").is_file()
    }
    text = (
        f"Grounded-answering adapter, leave-one-KB-out (bundled SmolLM2-135M; LoRA r={TRAIN.lora_r}, "
        f"{TRAIN.epochs} epoch over {per_kb} RAFT examples from each of the two other KBs, batch "
        f"{TRAIN.batch_size}, lr {TRAIN.lr}; merged and exported to GGUF {QUANT.upper()}, like the bundled "
        f"model). Answers: `ask` at `expert ask`'s defaults (k=5, whole context, <= 160 tokens); "
        f"'+ fallback': the shipped extractive fallback (threshold {t}); s/answer comes from a shared machine "
        "under changing load (2 cores, load average 8-17), so it does not compare the systems. Questions: every unanswerable "
        f"one plus answerable ones at an even stride ({per_set} from the sample, {per_test} from each public "
        "corpus: the subsets bench/answer_fallback.py uses), answered in an order fixed by a hash of "
        "their ids; where the clock cut the adapter's run, both systems are scored on the questions it "
        f"reached ({', '.join(f'{k}: {v}' for k, v in counts.items())}).\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(notes)
    )
    data = {
        "machine": machine(),
        "answer_settings": ANSWER.to_dict(),
        "train_settings": TRAIN.to_dict(),
        "raft_per_kb": per_kb,
        "questions_scored": counts,
        "training": train_info,
        "results": results,
    }
    write_results("grounded_adapter", data, text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="all", choices=["all", "train", "eval", "report", "own"])
    ap.add_argument("--per-kb", type=int, default=12, help="RAFT examples drawn from each KB")
    ap.add_argument("--per-set", type=int, default=30, help="questions evaluated on the sample (kestrel)")
    ap.add_argument("--per-test-set", type=int, default=20, help="questions evaluated on git and sqlite")
    ap.add_argument("--held-out", choices=SETS, help="train/eval: only the adapter that leaves this KB out")
    ap.add_argument("--wait", type=float, default=0.0, help="eval: seconds to wait for each merged model")
    args = ap.parse_args()
    if args.stage in ("all", "train"):
        stage_train(args.per_kb, args.held_out)
    if args.stage in ("all", "own"):
        own_adapter("kestrel", 2 * args.per_kb)
    if args.stage in ("all", "eval"):
        stage_eval(args.per_set, args.per_test_set, args.wait, args.held_out)
    if args.stage in ("all", "report"):
        report(args.per_set, args.per_test_set, args.per_kb)


if __name__ == "__main__":
    main()
