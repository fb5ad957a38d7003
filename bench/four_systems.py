"""The four systems on the sample company's labelled questions: base model alone, RAG, fine-tuned
alone and RAG + fine-tuned, where "fine-tuned" is the adapter trained for grounded answering on
this KB (RAFT data from the sample's KB, reserved evaluation fifth excluded: bench/grounded_adapter.py
--stage own), with the facts-only adapter (bench/finetune_effect.py) reported beside it; paired
tests (exact McNemar) between every pair; the advisor's reading of the measurement.

    python bench/four_systems.py [--per-set N] [--part rag|grounded|facts|all]
    # N: a fixed subset (every unanswerable question plus answerable ones at an even stride, as in
    # bench/grounded_adapter.py); default all. Parts can run side by side; `all` reuses finished ones.

    python bench/four_systems.py --base qwen2.5-0.5b [--per-set 20] [--until HH:MM] [--systems S,..]
        [--kbs K,..] [--report]
    # issue 23: the four systems with qwen2.5-0.5b everywhere on kestrel, git and sqlite, "fine-tuned"
    # = the leave-one-KB-out grounded adapter (bench/grounded_adapter.py --base qwen2.5-0.5b
    # --data questions --sources held-out --per-kb 6), beside RAG and the model alone with the
    # default model qwen2.5-1.5b; answers cached per system and KB under bench/out/four-systems-qwen
    # (processes answering different systems/KBs run side by side); results four_systems_qwen.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from _common import OUT, QUESTIONS, RESULTS, SAMPLE, gguf_of, machine, sample_kb, write_results
from answer_quality import SETTINGS, table
from grounded_adapter import OWN_EXAMPLES
from industry_expert.advise.profile import Profile, profile_data, profile_kb
from industry_expert.advise.rules import advise
from industry_expert.config import AnswerSettings
from industry_expert.evaluate.run import EvalReport, compare, evaluate, no_nan

GROUNDED = OUT / "grounded" / f"adapter-kestrel-{OWN_EXAMPLES}"
FACTS = OUT / "kestrel-lora"


def subset(per_set: int | None) -> Path:
    """The question file: all questions, or the fixed subset bench/grounded_adapter.py uses."""
    if not per_set:
        return QUESTIONS
    from answer_fallback import question_sets

    ids = {q.id for q in question_sets(per_set, per_set)["kestrel"]}
    path = OUT / "four-systems" / f"questions-{per_set}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    text = "".join(x + "\n" for x in lines if x.strip() and json.loads(x)["id"] in ids)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # keeps its time when unchanged
        path.write_text(text, encoding="utf-8")
    return path


def line(c: dict) -> str:
    return (
        f"- {c['better']} vs {c['than']}: {c['difference']:+.3f} accuracy "
        f"(95% CI {c['ci'][0]:+.3f} .. {c['ci'][1]:+.3f}; exact McNemar p={c['p_value']:.3g}, "
        f"{c['only_better']} vs {c['only_than']} questions right only by one)"
        f"{' significant' if c['significant'] else ''}"
    )


PARTS = {  # part -> (output folder, adapter, systems); each part can run in its own process
    "rag": (OUT / "four-systems-rag", None, ["base", "rag"]),
    "grounded": (OUT / "four-systems-grounded-gguf", GROUNDED, ["fine-tuned", "rag+fine-tuned"]),
    "facts": (OUT / "four-systems-facts-gguf", FACTS, ["fine-tuned", "rag+fine-tuned"]),
}
"""Each adapter runs as its GGUF LoRA on the bundled Q4_1 model (`expert finetune export`), the
engine and weights the base and RAG systems use, so only the adapter differs between systems."""
RENAME = {"facts": {"fine-tuned": "fine-tuned (facts)", "rag+fine-tuned": "rag+fine-tuned (facts)"}}


def run_part(part: str, questions: Path, kb: Path) -> EvalReport:
    """One part's systems on the questions, or its finished summary for the same questions."""
    out, adapter, systems = PARTS[part]
    done = out / "summary.json"
    if done.is_file() and done.stat().st_mtime > questions.stat().st_mtime:
        d = json.loads(done.read_text(encoding="utf-8"))
        n = sum(1 for x in questions.read_text(encoding="utf-8").splitlines() if x.strip())
        if d["questions"] == n and d["systems"] == systems:
            nan = float("nan")  # summary.json writes NaN (a metric that does not apply) as null
            d["summary"] = {
                x: {k: nan if v is None else v for k, v in m.items()} for x, m in d["summary"].items()
            }
            return EvalReport(**d)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        how = "bench/grounded_adapter.py --stage own" if part == "grounded" else "bench/finetune_effect.py"
        raise SystemExit(f"run {how} first (it trains {adapter})")
    a = str(gguf_of(adapter)) if adapter else None
    return evaluate(questions, out, str(kb), a, settings=SETTINGS, progress=True, only=systems)


def merged(reports: dict[str, EvalReport], names: list[str] | None = None) -> tuple[EvalReport, list[dict]]:
    """One report over the parts (systems renamed where two adapters share a name), every pair of
    systems compared on the same questions; ``names``: keep only these systems."""
    per_question: list[dict] = []
    summary: dict = {}
    ci: dict = {}
    counts: dict = {}
    for part, r in reports.items():
        ren = RENAME.get(part, {})
        for row in map(
            json.loads, (PARTS[part][0] / "per_question.jsonl").read_text(encoding="utf-8").splitlines()
        ):
            per_question.append({**row, "system": ren.get(row["system"], row["system"])})
        for sys_name in r.systems:
            summary[ren.get(sys_name, sys_name)] = r.summary[sys_name]
            ci[ren.get(sys_name, sys_name)] = r.ci[sys_name]
            counts[ren.get(sys_name, sys_name)] = r.counts[sys_name]
    systems = [x for x in summary if names is None or x in names]
    correct = {x: [q["correct"] for q in per_question if q["system"] == x] for x in systems}
    comps = [compare(b, a, correct[b], correct[a]) for i, a in enumerate(systems) for b in systems[i + 1 :]]
    rag = reports["rag"]
    report = EvalReport(
        str(OUT / "four-systems"),
        rag.questions,
        systems,
        {},
        {x: summary[x] for x in systems},
        {x: ci[x] for x in systems},
        {x: counts[x] for x in systems},
        rag.retrieval,
        comps,
        rag.model,
        str(GROUNDED),
        rag.settings,
        rag.retrieval_n,
    )
    return report, [q for q in per_question if q["system"] in systems]


def write_eval(report: EvalReport, per_question: list[dict], out: Path) -> None:
    """The merged evaluation in `expert eval`'s own files (what `expert advise --eval` reads)."""
    from industry_expert.evaluate.report import write_html

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(no_nan(report.to_dict()), indent=2) + "\n", encoding="utf-8")
    (out / "per_question.jsonl").write_text(
        "".join(json.dumps(no_nan(q)) + "\n" for q in per_question), encoding="utf-8"
    )
    write_html(out / "report.html", report, per_question)


# --- issue 23: the four systems on qwen2.5-0.5b, on the sample and two held-out KBs -------------

QWEN = "qwen2.5-0.5b"
LARGE = "qwen2.5-1.5b"
KBS = ("kestrel", "git", "sqlite")
QOUT = OUT / "four-systems-qwen"
ADAPTERS = OUT / "grounded" / f"q6x3-{QWEN}"
"""bench/grounded_adapter.py --base qwen2.5-0.5b --data questions --sources held-out --per-kb 6."""
ROUND = ""
"""``--adapters`` other than ``ADAPTERS``: that folder's name, which tags the adapter systems' caches
and the results (four_systems_qwen_ROUND.md); the systems without an adapter share one cache."""
CORE = ("base", "rag", "fine-tuned", "rag+fine-tuned")
QWEN_SYSTEMS = {  # system -> (kind, model, adapter of the KB or None)
    "base": ("alone", QWEN, False),
    "rag": ("rag", QWEN, False),
    "fine-tuned": ("alone", QWEN, True),
    "rag+fine-tuned": ("rag", QWEN, True),
    "rag (1.5B)": ("rag", LARGE, False),
    "base (1.5B)": ("alone", LARGE, False),
}
"""The four systems on the 0.5B (adapter: the one trained without the KB answered), and the
default answer model (1.5B) as RAG's generator and alone (issue 19)."""


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and not path.read_text(encoding="utf-8").endswith("\n"):
        lines = lines[:-1]  # a line another process is still writing
    return [json.loads(x) for x in lines if x.strip()]


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _tag(system: str, name: str) -> str:
    kind, model, tuned = QWEN_SYSTEMS[system]
    return f"{kind}-{model}" + (f"-minus-{name}" + (f"-{ROUND}" if ROUND else "") if tuned else "")


def generations(system: str, name: str) -> dict[str, dict]:
    """Cached answers of ``system`` on KB ``name`` by question id. RAG without an adapter also
    reads bench/answers_models.py's cache: generations by the same function (``generate_one``)
    with the same model and settings (k=4, 768 context tokens, 80 answer tokens)."""
    kind, model, tuned = QWEN_SYSTEMS[system]
    out: dict[str, dict] = {}
    if kind == "rag" and not tuned and name not in stale():
        import answers_models as am

        out = {i: {**r, "from": "answers_models"} for (s, i), r in am.cached(model).items() if s == name}
    out.update({r["id"]: r for r in _rows(QOUT / f"{_tag(system, name)}.jsonl") if r["set"] == name})
    return out


def stale() -> set[str]:
    """The KBs where a re-run retrieved other passages than bench/answers_models.py's cached
    generation (the KB or retrieval changed since): their RAG answers are generated again."""
    path = QOUT / "reproduce.json"
    rep = json.loads(path.read_text()) if path.is_file() else {}
    return {k.split("/")[0] for k, v in rep.items() if not v["same_passages"]}


def _past(until: str) -> bool:
    return bool(until) and time.strftime("%H:%M", time.gmtime()) >= until


def generate(system: str, name: str, qs: list, adapters: Path, until: str) -> int:
    """Answer the questions of ``name`` that ``system`` has not answered yet (appended to its
    cache as they come, with the CPU seconds each took and the load average); how many."""
    import answers_models as am
    from industry_expert.generate.grounded import ask
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator

    kind, model, tuned = QWEN_SYSTEMS[system]
    have = generations(system, name)
    todo = [q for q in qs if q.id not in have]
    if not todo or _past(until):
        return 0
    adapter = str(gguf_of(adapters / f"adapter-minus-{name}")) if tuned else None
    gen = load_generator(model, adapter)
    QOUT.mkdir(parents=True, exist_ok=True)
    kb = KnowledgeBase.open(am.kb_path(name)) if kind == "rag" else None
    n = 0
    try:
        with (QOUT / f"{_tag(system, name)}.jsonl").open("a", encoding="utf-8") as log:
            for q in todo:
                if _past(until):
                    break
                c0 = _cpu()
                if kb is not None:
                    row = am.generate_one(kb, q, gen)
                else:
                    row = {"id": q.id, "answer": ask(q.question, None, gen, settings=ALONE).to_dict()}
                row.update(set=name, system=system, cpu_s=round(_cpu() - c0, 2), load=os.getloadavg()[0])
                log.write(json.dumps(row) + "\n")
                log.flush()
                n += 1
                print(
                    f"{time.strftime('%H:%M:%S')} {system} {name} {q.id} {row['cpu_s']:.1f} cpu-s", flush=True
                )
    finally:
        if kb is not None:
            kb.close()
    return n


def qwen_sets(per_set: int) -> dict[str, list]:
    """bench/answers_models.py's subsets (answerable ones at an even stride, one unanswerable in
    five), so that its cached RAG generations pair with the adapter's on the same questions."""
    import answers_models as am

    sets = am.question_sets(per_set)
    return {n: sets[n] for n in KBS}


def plan(per_set: int, adapters: Path) -> list[tuple[str, str, bool]]:
    """(system, KB, ready) in the order the run answers them: the 0.5B systems first (an adapter
    as soon as it is trained), the 1.5B last."""
    out = []
    for system in QWEN_SYSTEMS:
        for name in KBS:
            tuned = QWEN_SYSTEMS[system][2]
            ready = not tuned or (adapters / f"adapter-minus-{name}" / "expert_adapter.json").is_file()
            out.append((system, name, ready))
    return out


def run_qwen(per_set: int, adapters: Path, until: str, only: list[str], kbs: list[str]) -> None:
    """Answer everything not cached (of the systems ``only`` names, if any), waiting for adapters
    still in training, until ``until``. Processes answering different systems can run side by side."""
    sets = qwen_sets(per_set)
    while not _past(until):
        todo = [
            (s, n, r)
            for s, n, r in plan(per_set, adapters)
            if (not only or s in only)
            and (not kbs or n in kbs)
            and any(q.id not in generations(s, n) for q in sets[n])
        ]
        ready = [(s, n) for s, n, r in todo if r]
        if not todo:
            return
        if any(not r for _, _, r in todo):  # adapters still training: the 1.5B waits (it would slow them)
            ready = [(s, n) for s, n in ready if QWEN_SYSTEMS[s][1] == QWEN]
        if not ready:
            time.sleep(30)
            continue
        s, n = ready[0]
        generate(s, n, sets[n], adapters, until)


ALONE = AnswerSettings(extractive_fallback=False)
"""The model alone (no passages): `ask` without a KB, the profile's answer length."""


def score_all(per_set: int) -> dict[str, dict[str, dict[str, dict]]]:
    """KB -> system -> question id -> the checked answer (RAG generations replayed through the
    pipeline under the model's profile as shipped, extractive fallback included; ``nofb``: the
    same without the fallback), its metrics, CPU and wall seconds."""
    import answers_models as am
    from answer_fallback import _load
    from industry_expert.config import AnswerSettings
    from industry_expert.evaluate.run import score_answer
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator
    from industry_expert.models.profiles import apply_profile

    gens = {m: load_generator(m) for m in (QWEN, LARGE)}
    shipped = {m: apply_profile(AnswerSettings(), g.id) for m, g in gens.items()}
    nofb = {m: s.model_copy(update={"extractive_fallback": False}) for m, s in shipped.items()}
    out: dict = {}
    for name, qs in qwen_sets(per_set).items():
        out[name] = {}
        with KnowledgeBase.open(am.kb_path(name)) as kb:
            embed = am.memo(kb.embed)
            for system, (kind, model, _) in QWEN_SYSTEMS.items():
                have, rows = generations(system, name), {}
                for q in (q for q in qs if q.id in have):
                    r = have[q.id]
                    if kind == "rag":
                        x = am.replay(r, q, gens[model], shipped[model], embed)
                        x["nofb"] = am.replay(r, q, gens[model], nofb[model], embed)["answer"]
                        wall = r["retrieve_s"] + r["end_s"]
                    else:
                        a = _load(r)
                        x = {"q": q, "answer": a, "raw": a.raw_answer, "nofb": a}
                        wall = a.timings.get("total_s", float("nan"))
                    x["metrics"] = {**score_answer(q, x["answer"]), "latency_s": wall}
                    x["metrics_nofb"] = score_answer(q, x["nofb"])
                    x.update(cpu_s=r.get("cpu_s"), wall_s=wall, source=r.get("from", "this run"))
                    rows[q.id] = x
                out[name][system] = rows
    return out


def report_kb(name: str, per: dict[str, dict], systems: tuple[str, ...], tag: str) -> tuple[Any, list[str]]:
    """An `expert eval` report of ``systems`` on the questions every one of them answered."""
    from industry_expert.evaluate.run import EvalReport, aggregate

    ids = [i for i in per[systems[0]] if all(i in per[s] for s in systems)]
    stats = aggregate({s: [per[s][i]["metrics"] for i in ids] for s in systems})
    r = EvalReport(str(QOUT / f"eval-{name}{tag}{'-' + ROUND if ROUND else ''}"), len(ids), list(systems), {}, stats["summary"], stats["ci"],
                   stats["counts"], {}, stats["comparisons"], QWEN, None, {})  # fmt: skip
    return r, ids


def mcnemar_line(
    name: str, per: dict[str, dict], a: str, b: str, ids: list[str], key: str
) -> tuple[dict, str]:
    from industry_expert.evaluate.run import compare

    c = compare(a, b, [per[a][i][key]["correct"] for i in ids], [per[b][i][key]["correct"] for i in ids])
    return c, (
        f"{name}: {a} - {b} = {c['difference']:+.3f} on {len(ids)} questions (exact McNemar p={c['p_value']:.3g}; "
        f"{c['only_better']} vs {c['only_than']} right only by one)"
    )


def changes(per: dict[str, dict], ids: list[str], a: str, b: str) -> dict:
    """What the adapter changed: raw abstentions, raw answers right before the check, length,
    the trained answer format ('The passage says: "..."'), checked abstentions."""
    import answers_models as am
    from industry_expert.generate.citations import is_abstention

    def stats(s: str) -> dict:
        xs = [per[s][i] for i in ids]
        raws = [x["raw"] or "" for x in xs]
        return {
            "raw_abstains": sum(not r.strip() or is_abstention(r) for r in raws),
            "raw_right": sum(am._raw_right(x) for x in xs),
            "raw_words_mean": round(sum(len(r.split()) for r in raws) / max(1, len(raws)), 1),
            "passage_says": sum("passage says" in r.lower() for r in raws),
            "checked_abstains": sum(x["answer"].abstained for x in xs),
            "same_passages_as_" + b: sum(
                [(h.source, h.chunk_id) for h in x["answer"].passages]
                == [(h.source, h.chunk_id) for h in per[b][i]["answer"].passages]
                for x, i in zip(xs, ids)
            ),
        }

    return {a: stats(a), b: stats(b)}


def examples(per: dict[str, dict], ids: list[str], a: str, b: str, n: int = 3) -> list[str]:
    """Questions right for only one of ``a``/``b``: the question and both raw answers."""
    out = []
    for i in ids:
        ca, cb = per[a][i]["metrics"]["correct"], per[b][i]["metrics"]["correct"]
        if ca != cb and len(out) < n:
            q = per[a][i]["q"]
            out.append(
                f"  - {i} ({'answerable' if q.answerable else 'unanswerable'}) {q.question!r}: "
                f"{b} {'right' if cb else 'wrong'}: {(per[b][i]['raw'] or '')[:160]!r}; "
                f"{a} {'right' if ca else 'wrong'}: {(per[a][i]['raw'] or '')[:160]!r}"
            )
    return out


def qwen_advice(name: str, report: Any, per_set: int, adapters: Path) -> Any:
    """The advisor's reading of the four systems on KB ``name`` (written as `expert eval`'s
    summary.json, which `expert advise --eval` reads)."""
    import answers_models as am
    from industry_expert.evaluate.run import no_nan

    out = Path(report.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(no_nan(report.to_dict()), indent=2) + "\n", encoding="utf-8")
    data = (
        SAMPLE / "finetune" / "train.jsonl" if name == "kestrel" else adapters / f"train-minus-{name}.jsonl"
    )
    return advise(Profile(profile_kb(am.kb_path(name)), profile_data(data)), eval_dir=out)


def training_info(adapters: Path) -> dict[str, dict]:
    out = {}
    for name in KBS:
        path = adapters / f"train-minus-{name}.json"
        if path.is_file():
            d = json.loads(path.read_text())
            rep = d["report"]
            losses = rep.get("losses") or []
            out[name] = {
                "wall_s": round(d["seconds"], 1),
                "cpu_s": round(d.get("cpu_s", float("nan")), 1),
                "steps": rep.get("steps"),
                "precision": rep.get("precision"),
                "loss_first": losses[0] if losses else None,
                "loss_last5_mean": round(sum(losses[-5:]) / len(losses[-5:]), 3) if losses else None,
                "losses": losses,
            }
    return out


def qwen_report(per_set: int, adapters: Path) -> None:
    from industry_expert.evaluate.run import no_nan

    scored = score_all(per_set)
    train = training_info(adapters)
    lines, results, met = [], {}, []
    for name, per in scored.items():
        res: dict = {}
        four_done = all(per[s] for s in CORE)
        if four_done:
            report, ids = report_kb(name, per, CORE, "")
            advice = qwen_advice(name, report, per_set, adapters)
            c, text = mcnemar_line(name, per, "rag+fine-tuned", "rag", ids, "metrics")
            c2, text2 = mcnemar_line(name, per, "rag+fine-tuned", "rag", ids, "metrics_nofb")
            met.append((name, c["difference"] >= 0, c))
            res.update(four=no_nan(report.to_dict()), ids=ids, rag_ft_vs_rag=c, rag_ft_vs_rag_nofb=c2,
                       advice=advice.to_dict(), changes=changes(per, ids, "rag+fine-tuned", "rag"),
                       changes_alone=changes(per, ids, "fine-tuned", "base"))  # fmt: skip
            lines += [f"### {name} (the adapter trained without {name}; {len(ids)} questions)", "",
                      table(report, list(CORE)), "", "", "- " + text, "- without the extractive fallback: " + text2]  # fmt: skip
            lines += [
                line(x) for x in report.comparisons if {x["better"], x["than"]} != {"rag", "rag+fine-tuned"}
            ]
            ch = res["changes"]
            lines.append(f"- what the adapter changed with RAG (of {len(ids)}): " + "; ".join(
                f"{s}: raw abstentions {v['raw_abstains']}, raw right {v['raw_right']}, checked abstentions "
                f"{v['checked_abstains']}, 'The passage says' in {v['passage_says']}, {v['raw_words_mean']} words"
                for s, v in ch.items()))  # fmt: skip
            ch = res["changes_alone"]
            lines.append("- and alone: " + "; ".join(
                f"{s}: raw abstentions {v['raw_abstains']}, raw right {v['raw_right']}, {v['raw_words_mean']} words"
                for s, v in ch.items()))  # fmt: skip
            lines += [
                "- questions right for only one of RAG and RAG + fine-tuned:",
                *examples(per, ids, "rag+fine-tuned", "rag"),
            ]
            lines.append(
                f"- advisor (`expert advise --eval`, this KB's profile): {advice.recommendation} - "
                + "; ".join(advice.reasons)
            )
        else:
            lines += [
                f"### {name}",
                "",
                "- the four systems did not all finish: " + ", ".join(f"{s} {len(per[s])}" for s in CORE),
            ]
        large = [s for s in QWEN_SYSTEMS if s not in CORE and per[s]]
        if large and per["rag"]:
            pair = ("base", "rag", *large) + (("rag+fine-tuned",) if per["rag+fine-tuned"] else ())
            pair = tuple(s for s in pair if per[s])
            r2, ids2 = report_kb(name, per, pair, "-1.5b")
            res["with_1.5b"] = {"ids": ids2, "report": no_nan(r2.to_dict())}
            lines += [
                "",
                f"The default model (1.5B) beside the 0.5B on the {len(ids2)} of these questions every one of them answered:",
                "",
                table(r2, list(pair)),
                "",
            ]
            if "rag (1.5B)" in pair:
                for other in ("rag", "rag+fine-tuned"):
                    if other in pair:
                        lines.append("- " + mcnemar_line(name, per, "rag (1.5B)", other, ids2, "metrics")[1])
        res["cpu_s"] = {s: round(sum(x["cpu_s"] or 0 for x in per[s].values()), 1) for s in QWEN_SYSTEMS}
        res["reused_answers_models"] = {
            s: sum(x["source"] == "answers_models" for x in per[s].values()) for s in QWEN_SYSTEMS
        }
        res["loads"] = {s: [round(min(v), 1), round(max(v), 1)] for s in QWEN_SYSTEMS
                        if (v := [r["load"] for r in generations(s, name).values() if "load" in r])}  # fmt: skip
        lines += ["", f"- CPU seconds answering in this run: {res['cpu_s']}; RAG generations taken from "
                  f"bench/answers_models.py's cache: {res['reused_answers_models']}; 1-min load average while "
                  f"answering (min, max): {res['loads']}", ""]  # fmt: skip
        results[name] = res
    goal = sum(ok for _, ok, _ in met)
    lines += pooled_qwen(scored, results)
    head = _qwen_head(per_set, adapters, train, met, goal)
    write_results("four_systems_qwen" + (f"_{ROUND}" if ROUND else ""), {"machine": machine(), "training": train, "goal_kbs_met": goal,
                                        "results": results}, head + "\n".join(lines))  # fmt: skip


def pooled_qwen(scored: dict, results: dict) -> list[str]:
    """RAG + fine-tuned against RAG over every KB's questions together (exact McNemar)."""
    from industry_expert.evaluate.run import compare

    a, b = [], []
    for name, res in results.items():
        for i in res.get("ids", []):
            a.append(scored[name]["rag+fine-tuned"][i]["metrics"]["correct"])
            b.append(scored[name]["rag"][i]["metrics"]["correct"])
    if not a:
        return []
    c = compare("rag+fine-tuned", "rag", a, b)
    return [
        f"All KBs together: rag+fine-tuned - rag = {c['difference']:+.3f} on {len(a)} questions (exact McNemar "
        f"p={c['p_value']:.3g}; {c['only_better']} vs {c['only_than']} right only by one)",
        "",
    ]


def load_range() -> str:
    """The 1-minute load average sampled each minute during the run (QOUT/load.log), min-max."""
    path = QOUT / "load.log"
    loads = (
        [float(x.split()[1]) for x in path.read_text().splitlines() if len(x.split()) >= 2]
        if path.is_file()
        else []
    )
    return f"{min(loads):.1f}-{max(loads):.1f} ({len(loads)} samples)" if loads else "not sampled"


def reproduce_check(per_set: int, n: int = 1) -> dict:
    """The first ``n`` questions of each KB answered again by the 0.5B: is the raw text the same
    as bench/answers_models.py's cached generation (same prompt, passages, model)?"""
    import answers_models as am
    from industry_expert.kb import KnowledgeBase
    from industry_expert.models.generators import load_generator

    path = QOUT / "reproduce.json"
    if path.is_file():
        return json.loads(path.read_text())
    gen, out = load_generator(QWEN), {}
    for name, qs in qwen_sets(per_set).items():
        cached = generations("rag", name)
        with KnowledgeBase.open(am.kb_path(name)) as kb:
            for q in [q for q in qs if q.id in cached][:n]:
                row = am.generate_one(kb, q, gen)
                out[f"{name}/{q.id}"] = {
                    "same_raw": row["raw"] == cached[q.id]["raw"],
                    "same_passages": [h["chunk_id"] for h in row["hits"]]
                    == [h["chunk_id"] for h in cached[q.id]["hits"]],
                    "raw": row["raw"][:200],
                    "cached_raw": cached[q.id]["raw"][:200],
                }
    QOUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    return out


def _lr(adapters: Path) -> str:
    """The learning rate the adapters were trained with (their training_config.json)."""
    lrs = {
        json.loads(p.read_text())["lr"] for p in sorted(adapters.glob("adapter-minus-*/training_config.json"))
    }
    return "/".join(f"{x:g}" for x in sorted(lrs)) or "?"


def _qwen_head(per_set: int, adapters: Path, train: dict, met: list, goal: int) -> str:
    rep = json.loads((QOUT / "reproduce.json").read_text()) if (QOUT / "reproduce.json").is_file() else {}
    per_kb = adapters.name.split("x")[0].lstrip("q")
    t = "; ".join(
        f"without {n}: {d['steps']} steps, {d['wall_s']:.0f} s wall, {d['cpu_s']:.0f} CPU s, loss {d['loss_first']:.2f} "
        f"-> {d['loss_last5_mean']:.2f} (mean of the last 5 steps)"
        for n, d in train.items()
    )
    verdict = ", ".join(f"{n} {c['difference']:+.3f} (p={c['p_value']:.2g})" for n, _, c in met)
    return (
        f"# The four systems on {QWEN} (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), three KBs (issue 23)\n\n"
        f"Same base everywhere: base = the 0.5B alone; RAG = the 0.5B reading the KB's passages; fine-tuned = "
        f"the 0.5B with the grounded (RAFT) adapter trained leave-one-KB-out (`bench/grounded_adapter.py --base "
        f"{QWEN} --data questions --sources held-out --per-kb {per_kb}"
        f"{' --base-defaults' if adapters.name.endswith('-bd') else ''}`: {per_kb} examples from each of the two OTHER KBs' "
        "question sets, the passages `ask` retrieves at this model's profile, k=4, 768 context tokens; one pass, "
        f"batch 1, LoRA r=16, lr {_lr(adapters)}, bf16 autocast, configs/smollm2-cpu-raft.yaml with the base changed"
        + (
            ", lr and LoRA targets the base's own defaults, finetune/profiles.py"
            if adapters.name.endswith("-bd")
            else ""
        )
        + "), "
        "exported as a GGUF LoRA over the same Q4_K_M file; RAG + fine-tuned = both. Answers: the model's "
        "profile as shipped (k=4, context_tokens=768, max_tokens=80, its support threshold and extractive "
        "fallback), greedy, llama.cpp, 1 thread; s/answer is wall time on a machine loaded by other "
        "benchmarks (and, for reused RAG generations, the load of bench/answers_models.py's run), so it does not "
        "compare the systems: the CPU seconds of each system are listed per KB. Questions: bench/answers_models.py's subsets "
        f"({per_set} per KB: answerable at an even stride, one unanswerable in five); RAG generations cached "
        "by bench/answers_models.py earlier today (same function, model and settings) are reused and replayed "
        "through today's check; a re-run of the first question of each KB gave "
        + (
            ", ".join(
                f"{k}: raw {'identical' if v['same_raw'] else 'DIFFERENT'}, passages "
                f"{'identical' if v['same_passages'] else 'DIFFERENT'}"
                for k, v in rep.items()
            )
            or "not run"
        )  # fmt: skip
        + (f"; so RAG on {', '.join(sorted(stale()))} was answered again in this run" if stale() else "")
        + ". The 1.5B (the default answer model) rows pair with the 0.5B on the questions both answered.\n\n"
        + (
            f"Training (CPU time of each adapter, nice 19, IE_NUM_THREADS=1, on 2 cores shared with other "
            f"helpers' benchmarks, 1-min load average over the run {load_range()}): "
            if not ROUND
            else "Training (CPU time of each adapter, nice 10, IE_NUM_THREADS=1, on 2 cores shared with up to "
            "four other benchmark processes, 1-min load average 2.8-3.6 in spot checks; two adapters trained "
            "side by side): "
        )
        + f"{t or 'none finished'}\n\n"
        f"Goal (pre-registered, issue 23): RAG + fine-tuned >= RAG on at least two of three held-out KBs: "
        f"{'MET' if goal >= 2 else 'NOT MET'} ({goal} of {len(met)} KBs measured: {verdict})\n\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--base",
        default="smollm2",
        choices=["smollm2", QWEN],
        help=f"smollm2: the sample's four systems (committed results); {QWEN}: three KBs (issue 23)",
    )
    ap.add_argument("--per-set", type=int, default=0, help="a fixed subset of this many questions (0: all)")
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all", help="run one part (then: --part all)")
    ap.add_argument("--adapters", type=Path, default=ADAPTERS, help=f"{QWEN}: the leave-one-KB-out adapters")
    ap.add_argument("--until", default="", help=f"{QWEN}: stop answering at this UTC time (HH:MM)")
    ap.add_argument("--systems", default="", help=f"{QWEN}: answer only these systems (comma-separated)")
    ap.add_argument("--kbs", default="", help=f"{QWEN}: answer only on these KBs (comma-separated)")
    ap.add_argument("--report", action="store_true", help=f"{QWEN}: only write the results from the caches")
    args = ap.parse_args()
    global ROUND
    ROUND = "" if args.adapters == ADAPTERS else args.adapters.name
    if args.base == QWEN:
        per_set = args.per_set or 20
        if not args.report:
            reproduce_check(per_set)
            only = [x for x in args.systems.split(",") if x]
            run_qwen(per_set, args.adapters, args.until, only, [x for x in args.kbs.split(",") if x])
        qwen_report(per_set, args.adapters)
        return
    kb = sample_kb()
    questions = subset(args.per_set)
    if args.part != "all":
        run_part(args.part, questions, kb)
        return
    reports = {part: run_part(part, questions, kb) for part in PARTS}
    four, four_rows = merged(reports, ["base", "rag", "fine-tuned", "rag+fine-tuned"])
    everything, rows = merged(reports)
    write_eval(four, four_rows, OUT / "four-systems")  # the advisor reads the four systems
    write_eval(everything, rows, OUT / "four-systems-all")
    shutil.copy(OUT / "four-systems-all" / "report.html", RESULTS / "four_systems_report.html")
    advice = advise(
        Profile(profile_kb(kb), profile_data(SAMPLE / "finetune" / "train.jsonl")),
        eval_dir=OUT / "four-systems",
    )
    names = {"fine-tuned": "fine-tuned (grounded)", "rag+fine-tuned": "rag+fine-tuned (grounded)"}
    text = (
        f"Four systems on {four.questions} sample questions"
        f"{f' (a fixed subset: {questions.name})' if questions != QUESTIONS else ''} (SmolLM2-135M; "
        "'fine-tuned' = the grounded adapter trained on the sample KB's RAFT data, reserved fifth "
        f"excluded, {OWN_EXAMPLES} examples (bench/grounded_adapter.py --stage own); the facts adapter "
        "(bench/finetune_effect.py) beside it; each adapter as a GGUF LoRA on the bundled Q4_1 model, "
        "the engine and weights of the base and RAG systems (`expert finetune export`); "
        f"settings as `expert ask`: answer k={SETTINGS.answer.k}, "
        f"max_tokens={SETTINGS.answer.max_tokens}, context_tokens={SETTINGS.answer.context_tokens})\n\n"
        + table(everything, everything.systems)
        .replace("| fine-tuned |", f"| {names['fine-tuned']} |")
        .replace("| rag+fine-tuned |", f"| {names['rag+fine-tuned']} |")
        + "\n\nRetrieval: "
        + ", ".join(f"{k} {v:.3f}" for k, v in four.retrieval.items())
        + "\n\n"
        + "\n".join(
            line(
                {**c, "better": names.get(c["better"], c["better"]), "than": names.get(c["than"], c["than"])}
            )
            for c in everything.comparisons
        )
        + f"\n\nAdvisor (reads the four systems, grounded adapter as 'fine-tuned'): {advice.recommendation} - "
        + "; ".join(advice.reasons)
    )
    write_results(
        "four_systems",
        {
            "machine": machine(),
            "questions": "all" if questions == QUESTIONS else questions.name,
            "report": no_nan(everything.to_dict()),
            "advice": advice.to_dict(),
        },
        text,
    )


if __name__ == "__main__":
    main()
