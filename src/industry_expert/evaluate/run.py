"""Run up to four systems on the same questions: base model alone, RAG (base + KB), fine-tuned
alone, RAG + fine-tuned. Retrieval and answer metrics per question, bootstrap CIs on the headline
numbers, per-question JSONL and a self-contained HTML report."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.evaluate import metrics as m
from industry_expert.evaluate.questions import Question, load_questions
from industry_expert.evaluate.stats import bootstrap_ci, paired_difference_ci
from industry_expert.generate.citations import is_abstention
from industry_expert.generate.grounded import AskSettings, ask
from industry_expert.kb import KnowledgeBase, write_json_atomic
from industry_expert.retrieve.hybrid import retrieve
from industry_expert.types import Answer

SYSTEMS = ("base", "rag", "fine-tuned", "rag+fine-tuned")
HEADLINE = (
    "correct",
    "abstention",
    "false_abstention",
    "citation_precision",
    "citation_recall",
    "faithfulness",
    "f1",
    "latency_s",
)
RETRIEVAL = ("hit@1", "hit@5", "recall@5", "mrr@10", "ndcg@10")
NAN = float("nan")


@dataclass
class EvalReport:
    out: str
    questions: int
    systems: list[str]
    skipped: dict[str, str]
    summary: dict[str, dict[str, float]]  # system -> metric -> mean
    ci: dict[str, dict[str, list[float]]]  # system -> metric -> [low, high]
    retrieval: dict[str, float] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    adapter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nan_mean(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return sum(xs) / len(xs) if xs else NAN


def score_answer(q: Question, a: Answer) -> dict[str, float]:
    """Answer metrics for one question (NaN where a metric does not apply)."""
    row: dict[str, float] = {
        "latency_s": a.timings.get("total_s", NAN),
        "f1": NAN,
        "abstention": NAN,
        "false_abstention": NAN,
        "citation_precision": NAN,
        "citation_recall": NAN,
        "faithfulness": NAN,
    }
    if not q.answerable:
        row["abstention"] = float(a.abstained)
        row["correct"] = float(a.abstained)
        return row
    has_key = bool(q.key_facts or q.regex)
    row["f1"] = m.token_f1(a.answer, q.answer) if q.answer else NAN
    ok = m.answer_correct(a.answer, q.key_facts, q.regex) if has_key else row["f1"] >= 0.5
    row["correct"] = float(ok and not a.abstained)
    row["false_abstention"] = float(a.abstained)
    if a.citations:
        good = [
            any(m.source_matches(c.source, g) for g in q.gold_sources)
            or (bool(q.key_facts) and m.answer_correct(a.passages[c.n - 1].text, q.key_facts))
            for c in a.citations
        ]
        row["citation_precision"] = sum(good) / len(good)
        row["citation_recall"] = m.recall_at_k(
            [c.source for c in a.citations], q.gold_sources, len(a.citations)
        )
    if a.passages and a.raw_answer and not is_abstention(a.raw_answer):
        # of the model's own sentences, the share the passages support (the delivered answer keeps
        # only those, so this measures the model's grounding before the check)
        total = a.supported + len(a.unsupported)
        row["faithfulness"] = a.supported / total if total else NAN
    return row


def retrieval_row(kb: KnowledgeBase, q: Question) -> dict[str, float]:
    if not q.answerable:
        return {}
    docs = m.ranked_documents([h.source for h in retrieve(kb, q.question, k=20)])
    return {
        "hit@1": m.hit_at_k(docs, q.gold_sources, 1),
        "hit@5": m.hit_at_k(docs, q.gold_sources, 5),
        "recall@5": m.recall_at_k(docs, q.gold_sources, 5),
        "mrr@10": m.reciprocal_rank(docs, q.gold_sources, 10),
        "ndcg@10": m.ndcg_at_k(docs, q.gold_sources, 10),
    }


def plan(kb: str | None, adapter: str | None) -> tuple[list[str], dict[str, str]]:
    """The systems to run, and why the others are skipped."""
    skipped: dict[str, str] = {}
    if not kb:
        skipped["rag"] = skipped["rag+fine-tuned"] = "no --kb given"
    if not adapter:
        skipped["fine-tuned"] = "no --adapter given"
        skipped.setdefault("rag+fine-tuned", "no --adapter given")
    return [s for s in SYSTEMS if s not in skipped], skipped


def evaluate(
    questions: str | Path,
    out: str | Path,
    kb: str | None = None,
    adapter: str | None = None,
    model: str | None = None,
    settings: AskSettings | None = None,
    progress: bool = False,
    limit: int | None = None,
    samples: int = 1000,
) -> EvalReport:
    from tqdm import tqdm

    from industry_expert.models.generators import load_generator

    qs = load_questions(questions)[:limit]
    systems, skipped = plan(kb, adapter)
    s = settings or AskSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opened = KnowledgeBase.open(kb) if kb else None
    gens = {"base": load_generator(model)}
    if adapter:
        gens["tuned"] = load_generator(model, adapter=adapter)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    per_question = []
    bar = tqdm(
        total=len(qs) * len(systems), desc="evaluating", unit="answer", disable=None if progress else True
    )
    try:
        retrieval = [retrieval_row(opened, q) for q in qs] if opened else []
        for name in systems:
            gen = gens["tuned" if "fine-tuned" in name else "base"]
            for q in qs:
                t0 = time.perf_counter()
                a = ask(q.question, opened if name.startswith("rag") else None, gen, settings=s)
                a.timings.setdefault("total_s", time.perf_counter() - t0)
                row = score_answer(q, a)
                rows[name].append(row)
                per_question.append(
                    {
                        "system": name,
                        "id": q.id,
                        "type": q.type,
                        "question": q.question,
                        "answer": a.answer,
                        "abstained": a.abstained,
                        "citations": [c.source for c in a.citations],
                        **row,
                    }
                )
                bar.update(1)
    finally:
        bar.close()
        if opened:
            opened.close()
    summary = {n: {k: _nan_mean([r[k] for r in rs]) for k in HEADLINE} for n, rs in rows.items()}
    ci = {
        n: {
            k: list(bootstrap_ci([r[k] for r in rs], samples))
            for k in ("correct", "abstention", "citation_precision", "faithfulness")
        }
        for n, rs in rows.items()
    }
    comparisons = []
    for i, a_name in enumerate(systems):
        for b_name in systems[i + 1 :]:
            diff, lo, hi = paired_difference_ci(
                [r["correct"] for r in rows[b_name]], [r["correct"] for r in rows[a_name]], samples
            )
            comparisons.append(
                {
                    "better": b_name,
                    "than": a_name,
                    "metric": "correct",
                    "difference": diff,
                    "ci": [lo, hi],
                    "significant": not (lo <= 0 <= hi) if diff == diff else False,
                }
            )
    report = EvalReport(
        str(out),
        len(qs),
        systems,
        skipped,
        summary,
        ci,
        {k: _nan_mean([r[k] for r in retrieval if r]) for k in RETRIEVAL} if retrieval else {},
        comparisons,
        gens["base"].id,
        adapter,
    )
    (out / "per_question.jsonl").write_text(
        "".join(json.dumps(no_nan(r), ensure_ascii=False) + "\n" for r in per_question), encoding="utf-8"
    )
    write_json_atomic(out / "summary.json", no_nan(report.to_dict()))
    from industry_expert.evaluate.report import write_html

    write_html(out / "report.html", report, per_question)
    return report


def no_nan(x: Any) -> Any:
    """NaN (a metric that does not apply) becomes null in JSON."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [no_nan(v) for v in x]
    return x
