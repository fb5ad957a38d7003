"""Does a grounded-answering adapter carry to a knowledge base it never saw? Leave-one-KB-out.

    python bench/grounded_adapter.py [--stage all|train|eval|report] [--per-kb 40] [--sources all]
        [--data kb|questions] [--answer-format answer-first|quote-first] [--systems grounded,merged]
        [--base smollm2|qwen2.5-0.5b]

For each KB X in {kestrel, git, sqlite}: RAFT data (`expert data from-kb --raft`: a question, the
passage that answers it among hard-negative distractors, one example in five distractors only and
answered with the abstention; the reserved evaluation fifth never enters) from every OTHER source
KB (``--sources``: these three, or ``all`` seven: the sample and the six public corpora),
a LoRA adapter trained on it (`expert finetune`, fixed schedule), then X's questions answered by
`ask` (the path of `expert ask`, its default settings) with the plain bundled model, with the
adapter as a GGUF LoRA that llama.cpp applies on the bundled model (`expert finetune export`, what
`expert ask --adapter FILE.gguf` runs), and with the adapter merged and quantized to the bundled
model's own Q4_1 (`expert finetune merge --gguf`).
``--data questions`` builds the RAFT data from each other KB's question set instead (``qraft``:
real questions, the passages `ask` really retrieves, the KB's own near misses for the abstention;
round 6, results in grounded_adapter_qraft*.md).
Every training prompt is checked to be byte-identical to the prompt `ask` renders for the same
passages. Every step caches under bench/out/grounded/<per-kb>x<sources>/ (data, adapters, merged
models, one answer per line), so an interrupted run resumes; `--stage train` and `--stage eval` can run side by side
(eval waits for each adapter).
``--base qwen2.5-0.5b`` (issue 23): the same recipe on the bundled Qwen2.5-Coder-0.5B-Instruct, its
RAFT prompts rendered by that model's generator at its answer profile (k=4, 768 context tokens,
models/profiles.py), everything under bench/out/grounded/<run>-<base>/; its four systems on the
three KBs are answered and reported by ``bench/four_systems.py --base qwen2.5-0.5b``.
Qwen round 2 (written before its runs; round 1: 6 examples per KB, lr 1e-3, RAG + ft >= RAG on 1 of
3 KBs, the adapter quoting instead of reading): ``--per-kb 24 --base-defaults``, four times the data
and the base's own learning rate (finetune/profiles.py, chosen on the facts set tune12), all else as
round 1; the same goal, answered by ``bench/four_systems.py --base qwen2.5-0.5b --adapters
bench/out/grounded/q24x3-qwen2.5-0.5b-bd``. General-question accuracy of each adapter is reported
beside its training (``qwen_general``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

from _common import OUT, QUESTIONS, ROOT, gguf_of, machine, write_results
from answer_fallback import answer_rows, cached_answers, kb_for, metrics, question_sets, row_line
from industry_expert.config import AnswerSettings, Settings
from industry_expert.evaluate.questions import Question
from industry_expert.evaluate.stats import mcnemar_exact

SETS = ("kestrel", "git", "sqlite")
"""The held-out KBs: the sample and the two public corpora with answer subsets (answer_fallback)."""
ALL = (*SETS, "policy", "handbook", "pylib", "apache")
"""Every KB RAFT data may come from: the sample and the six public corpora of bench/corpora."""
OWN = OUT / "grounded"
"""The per-KB adapter (``--stage own``; bench/four_systems.py reads it here)."""
G = OWN
"""This run's folder (set in main from --per-kb and --sources)."""
ANSWER = AnswerSettings(extractive_fallback=False)
"""`expert ask`'s defaults; the shipped extractive fallback is applied offline (as in
bench/answer_fallback.py), so each system is reported with and without it."""
RECIPE = ROOT / "configs" / "smollm2-cpu-raft.yaml"
TRAIN = Settings.load(RECIPE).finetune
"""Chosen before any held-out result was seen (CPU budget: one pass over 24 examples, batch 1)."""
QUANT = "q4_1"  # the bundled GGUF's own quantization, so both systems lose the same to it
BASE = "smollm2"
"""``--base``: the model trained and answering (a catalogue name); smollm2 reproduces the committed
SmolLM2 results."""


def answer_settings(gen) -> AnswerSettings:  # type: ignore[no-untyped-def]
    """The settings `ask` answers with on ``gen``: for a base other than SmolLM2 its catalogue
    profile (k, context tokens, support threshold...); SmolLM2 keeps the settings its committed
    results were made with."""
    if BASE == "smollm2":
        return ANSWER
    from industry_expert.models.profiles import apply_profile

    return apply_profile(ANSWER, gen.id)


def raft(name: str, per_kb: int) -> Path:
    from industry_expert.finetune.synth import write_from_kb

    path = G / f"raft-{name}.jsonl"
    if not path.is_file():
        G.mkdir(parents=True, exist_ok=True)
        print(write_from_kb(kb_for(name, {}), path, raft=True, phrasings=1, seed=0, limit=per_kb), flush=True)
    return path


QRAFT_NO_ORACLE = 0.2
"""``--data questions``: the share of answerable questions shown with their gold passages removed
(answered with the abstention), as ``expert data from-kb --raft`` does with its oracle."""


QUOTE_FIRST = False
"""``--answer-format quote-first``: the answer opens with the passage sentence in quotation marks
('"..." [n]'), then those sentences of the reference answer that `ask`'s citation check keeps.
Every answer then starts with the same token, so answering or abstaining ('The knowledge base does
not cover...') is one early choice at the data's own odds, instead of the abstention's one fixed
opening against the many openings of varied answers (under greedy decoding the fixed one won: the
answer-first adapter abstained on every held-out sample question); and the model is not taught
sentences the check would drop."""


def quote_first(quote: str, reference: str, n: int, passages: list[str]) -> str | None:
    """'"quote" [n]' plus each reference sentence, cited [n], that the check keeps beside it;
    None when the check would not keep the quote itself."""
    from industry_expert.generate.citations import check
    from industry_expert.text import lines_and_sentences

    answer = f'"{quote}" [{n}]'
    if not all(c.supported for c in check(answer, passages, ANSWER.support_threshold)):
        return None
    for sentence in (x.strip() for x in lines_and_sentences(reference) if x.strip()):
        longer = f"{answer} {sentence} [{n}]"
        if all(c.supported for c in check(longer, passages, ANSWER.support_threshold)):
            answer = longer
    return answer


def _is_gold(hit, q: Question) -> bool:  # type: ignore[no-untyped-def]
    from industry_expert.evaluate.metrics import source_matches

    return any(source_matches(hit.source, g) for g in q.gold_sources)


def _cited(q: Question, oracle, rx, shown: list) -> str | None:  # type: ignore[no-untyped-def]
    """The answer to train on when ``oracle`` is among the ``shown`` passages; None when the
    context fit cut it, when no single sentence of it matches ``rx``, or (quote first) when the
    check would drop the quote."""
    from industry_expert.text import lines_and_sentences

    if oracle not in shown:
        return None
    n = shown.index(oracle) + 1
    quote = next((s.strip() for s in lines_and_sentences(oracle.text) if rx.search(s)), None)
    if quote is None:
        return None
    if QUOTE_FIRST:
        return quote_first(quote, q.answer, n, [h.text for h in shown])
    cited = " ".join(f"{s.strip()} [{n}]" for s in lines_and_sentences(q.answer) if s.strip())
    # not finetune.synth.cited_answer: that one drops the quote when the answer contains it (a
    # short option like "-x"), and picks the sentence by shared words instead of the answer regex
    return f'{cited} The passage says: "{quote}" [{n}]'


def qraft(name: str, per_kb: int) -> Path:
    """RAFT from a KB's own question set (``--data questions``): each question as a user asked it,
    with exactly the passages `ask` retrieves for it (k=5, the shipped retrieval and context fit).
    An answerable question whose top five hold a gold-source passage matching its answer regex
    within one sentence is answered from it (``_cited``: answer first or quote first); one in five
    of those is shown instead the best five passages from other documents (the near misses
    retrieval really returns) and answered with the abstention, as is every unanswerable question.
    Questions whose gold passage is not in the top five are left out (the fact may be there under
    another wording). ``per_kb`` examples, drawn seeded; the held-out KB's questions never enter
    its adapter's data."""
    import random
    import re

    from industry_expert.evaluate.questions import load_questions
    from industry_expert.generate.context import prepare
    from industry_expert.generate.prompts import NOT_COVERED
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator
    from industry_expert.retrieve.hybrid import retrieve

    path = G / f"raft-{name}.jsonl"
    if path.is_file():
        return path
    from fetch import questions_path

    qs = load_questions(QUESTIONS if name == "kestrel" else questions_path(name))
    rng = random.Random(0)
    rng.shuffle(qs)
    gen = load_generator(BASE)
    settings = answer_settings(gen)
    rows, skipped = [], 0
    with KnowledgeBase.open(kb_for(name, {})) as kb:
        for q in qs:
            if len(rows) >= per_kb:
                break
            hits, oracle = retrieve(kb, q.question, k=5 if BASE == "smollm2" else settings.k), None
            if q.answerable:
                rx = re.compile(q.regex or re.escape(q.key_facts[0]), re.IGNORECASE)
                oracle = next((h for h in hits if _is_gold(h, q) and rx.search(h.text)), None)
                if oracle is None:
                    skipped += 1
                    continue
                if rng.random() < QRAFT_NO_ORACLE:
                    hits = [h for h in retrieve(kb, q.question, k=20) if not _is_gold(h, q)][: len(hits)]
                    oracle = None
            shown, messages, _ = prepare(gen, q.question, hits, settings)
            answer = NOT_COVERED if oracle is None else _cited(q, oracle, rx, shown)
            if answer is None:
                skipped += 1
                continue
            rows.append(
                {
                    "messages": [*messages, {"role": "assistant", "content": answer}],
                    "source": name,
                    "question_id": q.id,
                    "oracle": answer != NOT_COVERED,
                    "chunk_ids": [h.chunk_id for h in shown],
                    "kind": "qraft-" + ("answer" if answer != NOT_COVERED else "abstain"),
                }
            )
    G.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("qraft-answer", "qraft-abstain")}
    print(f"{name}: {len(rows)} examples {kinds}, {skipped} questions left out", flush=True)
    return path


DATA = raft
"""How a source KB's RAFT data is made (main sets it from --data): ``raft`` or ``qraft``."""


def prompt_identity(name: str) -> dict:
    """Each RAFT prompt against what `ask` renders for the same passages (generate.context.prepare
    with the bundled generator) and what training renders (finetune.encode's header)."""
    from transformers import AutoTokenizer

    from industry_expert.finetune.lora import chat_template
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.checkpoints import resolve_base
    from industry_expert.models.generators import load_generator
    from industry_expert.models.templates import render

    gen = load_generator(BASE)
    settings = answer_settings(gen)
    tok = AutoTokenizer.from_pretrained(resolve_base(BASE))
    template = chat_template(tok, "llama" if BASE == "smollm2" else "qwen2")
    rows = [json.loads(x) for x in (G / f"raft-{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    same_ask = same_train = 0
    with KnowledgeBase.open(kb_for(name, {})) as kb:
        from industry_expert.generate.context import prepare

        for r in rows:
            msgs = r["messages"][:-1]
            by_id = kb.store.hits(r["chunk_ids"])
            hits = [by_id[c] for c in r["chunk_ids"]]
            question = msgs[-1]["content"].rsplit("Question: ", 1)[1]
            _, _, prompt = prepare(gen, question, hits, settings)
            same_ask += prompt == gen.render(msgs)
            same_train += prompt == render(template, msgs, tok.bos_token or "", tok.eos_token or "", True)
    return {"examples": len(rows), "identical_to_ask": same_ask, "identical_to_training": same_train}


OWN_EXAMPLES = 120
"""RAFT examples of the per-KB adapter (round 4 trained on 24, in fp32)."""


def own_adapter(name: str, examples: int = OWN_EXAMPLES) -> Path:
    """The adapter for one KB from its own RAFT data (the per-KB recipe; bench/four_systems.py),
    and its GGUF LoRA next to it (``<adapter>.gguf``)."""
    from industry_expert.finetune.synth import write_from_kb

    data = OWN / f"raft-{name}-own-{examples}.jsonl"
    if not data.is_file():
        print(
            write_from_kb(kb_for(name, {}), data, raft=True, phrasings=1, seed=1, limit=examples), flush=True
        )
    adapter = train_on(data, OWN / f"adapter-{name}-{examples}", OWN / f"train-{name}-{examples}.json")
    gguf_of(adapter)
    return adapter


def train(held_out: str, per_kb: int, sources: tuple[str, ...]) -> Path:
    data = G / f"train-minus-{held_out}.jsonl"
    if not data.is_file():
        data.write_text(
            "".join(DATA(n, per_kb).read_text(encoding="utf-8") for n in sources if n != held_out)
        )
    return train_on(data, G / f"adapter-minus-{held_out}", G / f"train-minus-{held_out}.json")


def train_on(data: Path, adapter: Path, log: Path) -> Path:
    from industry_expert.finetune.lora import finetune

    if (adapter / "expert_adapter.json").is_file():
        return adapter
    t0 = time.perf_counter()
    t_step = time.perf_counter()
    cpu0 = _cpu_s()

    def step(n: int) -> None:
        print(f"  step {n} {time.perf_counter() - t_step:.0f}s {time.strftime('%H:%M:%S')}", flush=True)

    report = finetune(data, adapter, TRAIN, on_step=step)
    log.write_text(
        json.dumps(
            {"seconds": time.perf_counter() - t0, "cpu_s": _cpu_s() - cpu0, "report": report.to_dict()},
            indent=2,
            default=str,
        )
    )
    return adapter


def _cpu_s() -> float:
    """CPU seconds this process has used (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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


SYSTEMS = {  # cache tag -> (label, the model file it waits for, (model, adapter) to load)
    "grounded": (
        "RAG + grounded adapter",
        lambda n: G / f"adapter-minus-{n}" / "expert_adapter.json",
        lambda n: (None, str(gguf_of(G / f"adapter-minus-{n}"))),
    ),
    "merged": (
        f"RAG + grounded adapter merged into {QUANT.upper()}",
        lambda n: G / f"merged-minus-{n}" / f"model-{QUANT}.gguf",
        lambda n: (str(G / f"merged-minus-{n}" / f"model-{QUANT}.gguf"), None),
    ),
}
"""The adapter two ways: a GGUF LoRA over the bundled model (what ships), and merged into the fp32
weights that are then quantized like the bundled model (what `merge --gguf` gives)."""


def answers(
    system: str,
    name: str,
    qs: list[Question],
    model: str | None,
    cached_only: bool = False,
    adapter: str | None = None,
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
            loaded.append(load_generator(model or BASE, adapter))
        return loaded[0]

    return answer_rows(qs, kb_for(name, {}), gen, ANSWER, cache, f"{system} {name}")


def wait_for(path: Path, limit_s: float) -> bool:
    t0 = time.monotonic()
    while not path.is_file():
        if time.monotonic() - t0 > limit_s:
            return False
        time.sleep(20)
    return True


def stage_train(per_kb: int, sources: tuple[str, ...], only: str | None) -> None:
    for name in sources:
        DATA(name, per_kb)
    for name in [only] if only else SETS:
        print(f"train without {name}", flush=True)
        train(name, per_kb, sources)
        if "merged" in SYSTEMS:
            merged(name)


def stage_eval(per_set: int, per_test: int, wait_s: float, only: str | None) -> None:
    sets = question_sets(per_set, per_test)
    for name in [only] if only else SETS:
        answers("rag", name, sets[name], None)
    for system, (_, ready, spec) in SYSTEMS.items():
        for name in [only] if only else SETS:
            if wait_for(ready(name), wait_s):
                model, adapter = spec(name)
                answers(system, name, in_fixed_order(sets[name]), model, adapter=adapter)


def summary(rows: list[dict], t: float | None) -> dict:
    m = metrics(rows, t, "unsupported")
    times = [r["answer"].timings.get("total_s", 0.0) for r in rows]
    return {**m, "s_per_answer": sum(times) / len(times)}


def paired(a: dict, b: dict) -> dict:
    """Exact McNemar of ``a`` against ``b`` (same questions, same order)."""
    p = mcnemar_exact(a["correct_list"], b["correct_list"])
    only_a = sum(x > y for x, y in zip(a["correct_list"], b["correct_list"]))
    only_b = sum(y > x for x, y in zip(a["correct_list"], b["correct_list"]))
    return {"p": p, "only_adapter": only_a, "only_rag": only_b, "difference": a["correct"] - b["correct"]}


def report_set(name: str, qs: list[Question], t: float, lines: list[str], notes: list[str]) -> dict:
    """Each adapter system against RAG on the questions both answered (a run cut by the clock
    answered a prefix of ``qs``), with and without the extractive fallback."""
    rag_done = {r["q"].id for r in answers("rag", name, qs, None, True)}
    r: dict = {}
    shown: set[str] | None = None
    for system, (label, _, _) in SYSTEMS.items():
        rows = [x for x in answers(system, name, qs, None, cached_only=True) if x["q"].id in rag_done]
        if not rows:
            continue
        rag_rows = answers("rag", name, [x["q"] for x in rows], None, cached_only=True)
        same = sum(
            [(h.source, h.chunk_id) for h in a["answer"].passages]
            == [(h.source, h.chunk_id) for h in b["answer"].passages]
            for a, b in zip(rag_rows, rows)
        )
        notes.append(f"- {name}, {label}: the same passages as RAG on {same} of {len(rows)} questions")
        ids = {x["q"].id for x in rows}
        for fb, tt in (("", None), (" + fallback", t)):
            base, m = summary(rag_rows, tt), summary(rows, tt)
            if ids != shown:
                lines.append(row_line(name, "RAG" + fb, base) + f" {base['s_per_answer']:.1f} |")
                r[f"RAG{fb} ({len(rows)})"] = base
            lines.append(row_line(name, label + fb, m) + f" {m['s_per_answer']:.1f} |")
            r[label + fb] = m
            r[f"mcnemar {system}{fb}"] = c = paired(m, base)
            notes.append(
                f"- {name}, {label}{fb}: {c['difference']:+.3f} correct vs RAG (exact McNemar "
                f"p={c['p']:.3g}; {c['only_adapter']} vs {c['only_rag']} questions right only by one)"
            )
        shown = ids
        r[f"same_passages {system}"] = same
    if r:
        r["prompt_identity"] = prompt_identity(name)
    return r


def general_accuracy() -> tuple[dict, list[str]]:
    """General-question accuracy (bench/finetune_defaults.py's two sets, the model alone, greedy,
    48 tokens, PyTorch fp32 like its base row) before and after each grounded adapter of this run
    and the per-KB one: what the adapter costs the model's general knowledge."""
    import finetune_defaults as fd

    adapters = {f"minus-{n}": (f"minus-{n}", G / f"adapter-minus-{n}") for n in SETS}
    own = f"per-KB kestrel ({OWN_EXAMPLES})"
    adapters[own] = (own, OWN / f"adapter-kestrel-{OWN_EXAMPLES}")
    return general_table(fd.answers, adapters)


def general_table(
    answer: Callable[..., dict], adapters: dict[str, tuple[str, Path]]
) -> tuple[dict, list[str]]:
    """The base's and each finished adapter's general accuracy, exact McNemar against the base:
    ``answer(label, adapter or None, questions)`` answers (cached); ``adapters``: key -> (the row's
    name, the adapter folder)."""
    import finetune_defaults as fd
    from industry_expert.evaluate.stats import mcnemar_exact

    general = fd.general_sets()
    base = answer("base", None, general)
    out: dict = {"base": {g: fd.rate(base, g, [q["id"] for q in qs]) for g, qs in general.items()}}
    lines = ["| model | general66 | p | sample general12 | p |", "|---|---|---|---|---|"]
    lines.append("| base | " + " | ".join(f"{fd.pct(out['base'][g])} |" for g in general) + " |")
    for key, (title, path) in adapters.items():
        if not (path / "expert_adapter.json").is_file():
            continue
        done = answer(f"grounded-{G.name}-{key}".replace(" ", "_"), path, general)
        row = {}
        for g, qs in general.items():
            row[g] = fd.rate(done, g, [q["id"] for q in qs])
            row[g]["vs_base_p"] = mcnemar_exact(out["base"][g]["per_question"], row[g]["per_question"])
        out[key] = row
        lines.append(
            f"| {title} | "
            + " | ".join(f"{fd.pct(row[g])} | {row[g]['vs_base_p']:.3f}" for g in general)
            + " |"
        )
    return out, lines


def pooled(results: dict) -> list[str]:
    """Each adapter against RAG over every held-out KB's questions together (exact McNemar on the
    questions right for only one of the two)."""
    out = []
    for system, (label, _, _) in SYSTEMS.items():
        for fb in ("", " + fallback"):
            per = [r[f"mcnemar {system}{fb}"] for r in results.values() if f"mcnemar {system}{fb}" in r]
            if not per:
                continue
            a, b = sum(c["only_adapter"] for c in per), sum(c["only_rag"] for c in per)
            p = mcnemar_exact([1.0] * a + [0.0] * b, [0.0] * a + [1.0] * b)
            out.append(
                f"- all held-out KBs together, {label}{fb}: {a} vs {b} questions right only by the adapter vs "
                f"only by RAG (exact McNemar p={p:.3g})"
            )
    return out


def report(per_set: int, per_test: int, per_kb: int, sources: tuple[str, ...], results_name: str) -> None:
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
        r = report_set(name, in_fixed_order(sets[name]), t, lines, notes)
        if r:
            results[name] = r
            labels = [x[0] for x in SYSTEMS.values() if x[0] in r]
            counts[name] = ", ".join(f"{x} {r[x]['n']} of {len(sets[name])}" for x in labels)
        else:
            notes.append(f"- {name}: the adapter run did not finish (no answers)")
    notes += pooled(results)
    general, general_lines = general_accuracy()
    train_info = {
        n: json.loads((G / f"train-minus-{n}.json").read_text())
        for n in SETS
        if (G / f"train-minus-{n}.json").is_file()
    }
    precisions = {t["report"].get("precision", "fp32") for t in train_info.values()}  # round 4: fp32
    text = (
        f"Grounded-answering adapter, leave-one-KB-out (bundled SmolLM2-135M; LoRA r={TRAIN.lora_r}, "
        f"{TRAIN.epochs} epoch over {per_kb} RAFT examples from each of the {len(sources) - 1} other KBs "
        + (
            "(built from each KB's question set, `--data questions`: the passages `ask` retrieves, "
            + (
                "the passage sentence that states the answer in quotation marks first, then the reference "
                "answer's sentences that `ask`'s citation check keeps"
                if QUOTE_FIRST
                else "the reference answer cited, then its passage sentence quoted"
            )
            + ", one in five answerable questions "
            "and every unanswerable one shown non-gold passages and answered with the abstention) "
            if DATA is qraft
            else ""
        )
        + f"of {', '.join(sources)}, batch {TRAIN.batch_size}, lr {TRAIN.lr}, precision {'/'.join(sorted(precisions))}; "
        "exported as a GGUF LoRA (`expert finetune export`) that llama.cpp applies on the bundled Q4_1 model"
        + (
            f", and, for comparison, merged into the fp32 weights and quantized to {QUANT.upper()} like "
            "the bundled model (`expert finetune merge --gguf`)"
            if "merged" in SYSTEMS
            else ""
        )
        + ". Answers: `ask` at `expert ask`'s defaults (k=5, whole context, <= 160 tokens); "
        f"'+ fallback': the shipped extractive fallback (threshold {t}); s/answer is wall time on a machine "
        "shared by the run's own trainings and answers (2 cores), so it does not compare the systems. "
        "Questions: every unanswerable "
        f"one plus answerable ones at an even stride ({per_set} from the sample, {per_test} from each public "
        "corpus: the subsets bench/answer_fallback.py uses), answered in an order fixed by a hash of "
        "their ids; where the clock cut an adapter's run, it and RAG are scored on the questions it "
        f"reached ({'; '.join(f'{k}: {v}' for k, v in counts.items())}).\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(notes)
        + "\n\nGeneral questions, the model alone before and after each adapter (bench/finetune_defaults.py's "
        "sets and settings: greedy, 48 tokens, PyTorch fp32; p: exact McNemar vs base):\n\n"
        + "\n".join(general_lines)
    )
    data = {
        "machine": machine(),
        "answer_settings": ANSWER.to_dict(),
        "train_settings": TRAIN.to_dict(),
        "raft_per_kb": per_kb,
        "raft_sources": list(sources),
        "questions_scored": counts,
        "training": train_info,
        "results": results,
        "general": general,
    }
    write_results(results_name, data, text)


def base_report(per_kb: int, sources: tuple[str, ...], results_name: str) -> None:
    """``--base`` other than SmolLM2: the adapters' data, prompt identity, loss curves and CPU time;
    their answers (the four systems on the three KBs) are in bench/four_systems.py --base's results."""
    adapters = {}
    for name in SETS:
        log = G / f"train-minus-{name}.json"
        if not log.is_file():
            adapters[name] = {"finished": False}
            continue
        d = json.loads(log.read_text())
        rows = [
            json.loads(x) for x in (G / f"train-minus-{name}.jsonl").read_text().splitlines() if x.strip()
        ]
        r = d["report"]
        adapters[name] = {
            "finished": True,
            "wall_s": round(d["seconds"], 1),
            "cpu_s": round(d.get("cpu_s", float("nan")), 1),
            "examples": {k: sum(x["kind"] == k for x in rows) for k in ("qraft-answer", "qraft-abstain")},
            "sources": sorted({x["source"] for x in rows}),
            "steps": r["steps"],
            "trained_tokens": r["trained_tokens"],
            "tokens_per_s": r["tokens_per_s"],
            "peak_rss_mb": r["peak_rss_mb"],
            "precision": r["precision"],
            "losses": r["losses"],
        }
    identity = {n: prompt_identity(n) for n in sources}
    lines = [
        "| adapter | data (answer/abstain) | steps | answer tokens trained | wall s | CPU s | tokens/s (wall) "
        "| peak RSS MB | loss per step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, a in adapters.items():
        if not a["finished"]:
            lines.append(f"| without {name} | not finished | | | | | | | |")
            continue
        ex = a["examples"]
        lines.append(
            f"| without {name} | {'+'.join(a['sources'])}: {ex['qraft-answer']}/{ex['qraft-abstain']} | {a['steps']} "
            f"| {a['trained_tokens']} | {a['wall_s']:.0f} | {a['cpu_s']:.0f} | {a['tokens_per_s']:.0f} "
            f"| {a['peak_rss_mb']:.0f} | {' '.join(f'{x:.2f}' for x in a['losses'])} |"
        )
    from industry_expert.finetune.profiles import apply_profile

    first = G.name == f"q6x3-{BASE}"  # round 1's adapters (trained before bases had own defaults)
    ran = TRAIN if first else apply_profile(TRAIN)[0]  # what finetune() trained with
    answers_page = "four_systems_qwen.md" if first else f"four_systems_qwen_{G.name}.md"
    text = (
        f"Grounded (RAFT) adapters on {BASE}, leave-one-KB-out over {', '.join(sources)} (issue 23): for each "
        f"KB, {per_kb} examples from each OTHER KB's question set (`--data questions`: the passages `ask` "
        f"retrieves at {BASE}'s profile, k={TRAIN_ANSWER_K}, 768 context tokens; the reference answer cited, "
        "then its passage sentence quoted; one in five answerable questions and every unanswerable one "
        "shown non-gold passages and answered with the abstention); "
        f"LoRA r={ran.lora_r}, {ran.epochs} epoch, batch {ran.batch_size}, lr {ran.lr:g}, targets "
        f"{','.join(ran.target_modules or ['q/k/v/o (the architecture default)'])}, precision "
        f"{ran.precision}: {'/'.join(sorted({a['precision'] for a in adapters.values() if a['finished']}))} ("
        f"{RECIPE.name} with the base changed"
        + ("; lr and targets the base's own defaults, finetune/profiles.py" if G.name.endswith("-bd") else "")
        + "). Trained with nice 10-19 and IE_NUM_THREADS=1 "
        f"on 2 cores shared with other benchmarks (1-min load average {_load_range()}): wall and CPU "
        "seconds are upper bounds. The answers of these adapters (the four systems on the three KBs, exact McNemar "
        f"against RAG, the goal line) are in {answers_page}.\n\n"
        + "\n".join(lines)
        + "\n\nTraining prompts byte-identical to the prompt `ask` renders for the same passages on "
        f"{BASE} (and to the training template's): "
        + ", ".join(
            f"{n}: {d['identical_to_ask']}/{d['examples']} ({d['identical_to_training']})"
            for n, d in identity.items()
        )
    )
    general, glines = qwen_general()
    text += (
        "\n\nGeneral questions, the model alone (bench/finetune_qwen_facts.py's path: llama.cpp on the "
        "Q4_K_M file, + the adapter's GGUF LoRA, greedy, 48 tokens; p: exact McNemar vs the base): what "
        "each grounded adapter costs what the model knew.\n\n" + "\n".join(glines)
    )
    data = {
        "machine": machine(),
        "base": BASE,
        "train_settings": ran.to_dict(),
        "general": general,
        "raft_per_kb": per_kb,
        "raft_sources": list(sources),
        "adapters": adapters,
        "prompt_identity": identity,
    }
    write_results(results_name, data, text)


def qwen_general() -> tuple[dict, list[str]]:
    """General-question accuracy of the Qwen base and of each finished adapter of this run, all on
    llama.cpp (the way `ask` runs them; answers cached with bench/finetune_qwen_facts.py's)."""
    import finetune_qwen_facts as fq

    def answer(label: str, adapter: Path | None, questions: dict) -> dict:
        return fq.answers(label, gguf_of(adapter) if adapter else None, questions)

    return general_table(answer, {f"minus-{n}": (f"without {n}", G / f"adapter-minus-{n}") for n in SETS})


def _load_range() -> str:
    """Min-max of the 1-minute load average sampled each minute during the run (a log of lines
    'HH:MM:SS load1 load5 load15' next to bench/four_systems.py --base's answers)."""
    path = OUT / "four-systems-qwen" / "load.log"
    loads = (
        [float(x.split()[1]) for x in path.read_text().splitlines() if len(x.split()) >= 2]
        if path.is_file()
        else []
    )
    return f"{min(loads):.1f}-{max(loads):.1f}, sampled each minute" if loads else "not sampled"


TRAIN_ANSWER_K = 4
"""The Qwen profiles' k (models/profiles.py MEASURED), stated in the report."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="all", choices=["all", "train", "eval", "report", "own"])
    ap.add_argument("--per-kb", type=int, default=40, help="RAFT examples drawn from each KB")
    ap.add_argument(
        "--data",
        default="kb",
        choices=["kb", "questions"],
        help="RAFT from each KB's chunks (`expert data from-kb --raft`) or from its question set (qraft)",
    )
    ap.add_argument("--sources", default="all", choices=["all", "held-out"], help="KBs RAFT data comes from")
    ap.add_argument("--per-set", type=int, default=30, help="questions evaluated on the sample (kestrel)")
    ap.add_argument("--per-test-set", type=int, default=20, help="questions evaluated on git and sqlite")
    ap.add_argument("--held-out", choices=SETS, help="train/eval: only the adapter that leaves this KB out")
    ap.add_argument("--results", default="grounded_adapter", help="report: bench/results/NAME.md/.json")
    ap.add_argument("--wait", type=float, default=0.0, help="eval: seconds to wait for each merged model")
    ap.add_argument(
        "--answer-format",
        default="answer-first",
        choices=["answer-first", "quote-first"],
        help="--data questions: the reference answer then the quote, or the quote first",
    )
    ap.add_argument("--base", default="smollm2", help="the model trained and answering (catalogue name)")
    ap.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help="adapter systems to train for, answer with and report (comma-separated: grounded,merged)",
    )
    ap.add_argument(
        "--base-defaults",
        action="store_true",
        help="train with the base's own defaults (finetune/profiles.py) where the recipe sets them",
    )
    args = ap.parse_args()
    for unused in set(SYSTEMS) - set(args.systems.split(",")):
        del SYSTEMS[unused]
    sources = ALL if args.sources == "all" else SETS
    global G, QUOTE_FIRST, DATA, BASE, TRAIN
    BASE = args.base
    TRAIN = TRAIN.model_copy(update={"base": BASE})
    if args.base_defaults:  # the recipe's values give way to the base's own (finetune/profiles.py)
        from industry_expert.config import FinetuneSettings
        from industry_expert.finetune.profiles import profile_for

        own = profile_for(BASE)
        TRAIN = FinetuneSettings(
            **{k: v for k, v in TRAIN.model_dump(exclude_unset=True).items() if k not in own}
        )
    QUOTE_FIRST = args.answer_format == "quote-first"
    tag = {"kb": "", "questions": "q"}[args.data] + ("f" if QUOTE_FIRST else "")
    G = (
        OUT
        / "grounded"
        / (
            f"{tag}{args.per_kb}x{len(sources)}"
            + ("" if BASE == "smollm2" else f"-{BASE}")
            + ("-bd" if args.base_defaults else "")
        )
    )
    DATA = qraft if args.data == "questions" else raft
    if args.stage in ("all", "train"):
        stage_train(args.per_kb, sources, args.held_out)
    if args.stage in ("all", "own"):
        own_adapter("kestrel")
    if args.stage in ("all", "eval"):
        stage_eval(args.per_set, args.per_test_set, args.wait, args.held_out)
    if args.stage in ("all", "report") and BASE != "smollm2":
        base_report(args.per_kb, sources, args.results)
        return
    if args.stage in ("all", "report"):
        report(args.per_set, args.per_test_set, args.per_kb, sources, args.results)


if __name__ == "__main__":
    main()
