"""Run up to four systems on the same questions: base model alone, RAG (base + KB), fine-tuned
alone, RAG + fine-tuned, each answering through ``generate.grounded.ask`` with the same settings
``expert ask`` uses. Retrieval and answer metrics per question, Wilson intervals for rates,
bootstrap intervals for continuous metrics, exact McNemar tests between systems, per-question JSONL
and a self-contained HTML report; the effective settings are recorded in both."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.config import AnswerSettings, RetrieveSettings, Settings
from industry_expert.evaluate import metrics as m
from industry_expert.evaluate.questions import Question, load_questions
from industry_expert.evaluate.stats import bootstrap_ci, mcnemar_exact, newcombe_paired_ci, proportion_ci
from industry_expert.generate.citations import is_abstention
from industry_expert.generate.grounded import ask
from industry_expert.io import no_nan, write_json_atomic
from industry_expert.kb import KnowledgeBase
from industry_expert.models.profiles import apply_profile
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
RATES = ("correct", "abstention", "false_abstention")
"""0/1 per question: Wilson intervals. The other headline metrics get bootstrap intervals."""
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
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # system -> metric -> n scored
    retrieval: dict[str, float] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    adapter: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """The effective ``retrieve`` and ``answer`` settings every system answered with."""
    retrieval_n: int = 0

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


def retrieval_row(
    kb: KnowledgeBase, q: Question, settings: RetrieveSettings | None = None
) -> dict[str, float]:
    if not q.answerable:
        return {}
    docs = m.ranked_documents([h.source for h in retrieve(kb, q.question, k=20, settings=settings)])
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


def as_settings(settings: Settings | AnswerSettings | None) -> Settings:
    """The full tree: answer settings alone are taken with the default retrieval settings."""
    if settings is None:
        return Settings()
    if isinstance(settings, AnswerSettings):
        return Settings(answer=settings)
    return settings


def aggregate(rows: dict[str, list[dict[str, float]]], samples: int = 1000) -> dict[str, Any]:
    """Means, n, intervals per system and metric, and the pairwise comparisons of correctness."""
    summary = {n: {k: _nan_mean([r[k] for r in rs]) for k in HEADLINE} for n, rs in rows.items()}
    counts = {n: {k: sum(1 for r in rs if r[k] == r[k]) for k in HEADLINE} for n, rs in rows.items()}
    ci = {
        n: {
            k: list(
                proportion_ci([r[k] for r in rs]) if k in RATES else bootstrap_ci([r[k] for r in rs], samples)
            )
            for k in HEADLINE
        }
        for n, rs in rows.items()
    }
    names = list(rows)
    comparisons = [
        compare(b_name, a_name, [r["correct"] for r in rows[b_name]], [r["correct"] for r in rows[a_name]])
        for i, a_name in enumerate(names)
        for b_name in names[i + 1 :]
    ]
    return {"summary": summary, "counts": counts, "ci": ci, "comparisons": comparisons}


def compare(b_name: str, a_name: str, b: list[float], a: list[float]) -> dict[str, Any]:
    """``b`` vs ``a`` on the same questions: difference in correctness with Newcombe's paired
    interval, the discordant counts, and the exact McNemar p-value (significant below 0.05)."""
    diff, lo, hi = newcombe_paired_ci(b, a)
    p = mcnemar_exact(b, a)
    return {
        "better": b_name,
        "than": a_name,
        "metric": "correct",
        "n": sum(1 for x, y in zip(a, b, strict=True) if x == x and y == y),
        "difference": diff,
        "ci": [lo, hi],
        "only_better": sum(1 for x, y in zip(a, b, strict=True) if y == 1 and x == 0),
        "only_than": sum(1 for x, y in zip(a, b, strict=True) if x == 1 and y == 0),
        "p_value": p,
        "test": "exact McNemar",
        "significant": p < 0.05,
    }


def _answer_all(
    qs: list[Question],
    systems: list[str],
    gens: dict[str, Any],
    kb: KnowledgeBase | None,
    s: Settings,
    bar: Any,
) -> tuple[dict[str, list[dict[str, float]]], list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    per_question = []
    for name in systems:
        gen = gens["tuned" if "fine-tuned" in name else "base"]
        for q in qs:
            t0 = time.perf_counter()
            use_kb = kb if name.startswith("rag") else None
            a = ask(q.question, use_kb, gen, settings=s.answer, retrieval=s.retrieve)
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
    return rows, per_question


def evaluate(
    questions: str | Path,
    out: str | Path,
    kb: str | None = None,
    adapter: str | None = None,
    model: str | None = None,
    settings: Settings | AnswerSettings | None = None,
    progress: bool = False,
    limit: int | None = None,
    samples: int = 1000,
    only: list[str] | None = None,
) -> EvalReport:
    """Evaluate on a question set. ``settings``: the same tree ``expert ask`` reads (its ``answer``
    and ``retrieve`` sections are used; ``model`` overrides ``answer.model``)."""
    from tqdm import tqdm

    from industry_expert.models.generators import load_generator

    qs = load_questions(questions)[:limit]
    systems, skipped = plan(kb, adapter)
    if only is not None:  # a subset of the systems (e.g. a second adapter beside a finished run)
        skipped.update({x: "not asked for" for x in systems if x not in only})
        systems = [x for x in systems if x in only]
    s = as_settings(settings)
    model = model if model is not None else s.answer.model
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opened = KnowledgeBase.open(kb, settings=s) if kb else None
    gens = {"base": load_generator(model, remote=s.remote)}
    if adapter:
        gens["tuned"] = load_generator(model, adapter=adapter, remote=s.remote)
    bar = tqdm(
        total=len(qs) * len(systems), desc="evaluating", unit="answer", disable=None if progress else True
    )
    try:
        retrieval = [retrieval_row(opened, q, s.retrieve) for q in qs] if opened else []
        rows, per_question = _answer_all(qs, systems, gens, opened, s, bar)
    finally:
        bar.close()
        if opened:
            opened.close()
    stats = aggregate(rows, samples)
    scored = [r for r in retrieval if r]
    report = EvalReport(
        str(out),
        len(qs),
        systems,
        skipped,
        stats["summary"],
        stats["ci"],
        stats["counts"],
        {k: _nan_mean([r[k] for r in scored]) for k in RETRIEVAL} if retrieval else {},
        stats["comparisons"],
        gens["base"].id,
        adapter,
        {
            "retrieve": s.retrieve.to_dict(),
            "answer": {**apply_profile(s.answer, gens["base"].id).to_dict(), "model": model},
        },
        len(scored),
    )
    (out / "per_question.jsonl").write_text(
        "".join(json.dumps(no_nan(r), ensure_ascii=False) + "\n" for r in per_question), encoding="utf-8"
    )
    write_json_atomic(out / "summary.json", no_nan(report.to_dict()))
    from industry_expert.evaluate.report import write_html

    write_html(out / "report.html", report, per_question)
    return report
