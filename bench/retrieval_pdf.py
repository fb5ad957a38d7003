"""Page-level retrieval on real PDF manuals: the shipped pipeline against naive page-window
baselines computed in the same run.

    python bench/retrieval_pdf.py                   # every set under bench/corpora/pdf/
    python bench/retrieval_pdf.py --loader before   # also the PDF loader as it was before issue 20

Question sets: bench/corpora/pdf/*/questions.jsonl (user-phrased, each with ``gold_pages``: the
1-based pages that answer it), over PDF manuals from Debian documentation packages (fetched by
bench/corpora/fetch.py: ``apt-get download`` + ``dpkg -x``, nothing committed). Three generators:
LibreOffice Writer (gutenprint), dblatex/xdvipdfmx (debmake), LaTeX/pdfTeX (gnuplot).

Systems, all ranked by page (a page counts once, at its best rank):

* ``shipped``: ``expert ingest`` + ``expert search`` with the defaults (KB under bench/out/pdf/).
* ``naive BM25``: Okapi BM25 (k1 1.5, b 0.75) over 200-word windows of each page's plain text
  (pypdf ``extract_text``), numpy here (bm25s is not installed in this environment).
* ``naive dense``: the same windows embedded by the KB's own embedder (the bundled MiniLM), cosine.
* ``naive RRF``: reciprocal rank fusion (k 60) of the two.

Metrics over the answerable questions: hit@1, hit@5, MRR@10. Nothing was tuned on these sets: no
setting of the pipeline was chosen on them (the loader's rules were written on the unit-test PDFs
and by reading pages of debmake; gutenprint and gnuplot were only read to write questions).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from _common import OUT, ROOT, machine, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpora"))
from fetch import fetch, questions_path  # noqa: E402

from industry_expert.config import Settings  # noqa: E402
from industry_expert.ingest import pdf_pdfium  # noqa: E402
from industry_expert.ingest.pipeline import ingest  # noqa: E402
from industry_expert.kb import KnowledgeBase  # noqa: E402
from industry_expert.retrieve.hybrid import retrieve  # noqa: E402

SETS = ("pdf/gutenprint", "pdf/debmake", "pdf/gnuplot")
BEFORE = "bd8291b"  # the commit before issue 20: its ingest/pdf.py is the "before" loader
WINDOW = 200
DEPTH = 40  # chunks retrieved per question before pages are deduplicated
_TOKEN = re.compile(r"\w+")


def load_set(name: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in questions_path(name).read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r.get("answerable", True)]


def metrics(ranked: list[list[int]], gold: list[list[int]]) -> dict[str, float]:
    """hit@1, hit@5, MRR@10 of page rankings."""
    ranks = [next((i for i, p in enumerate(r[:10], 1) if p in set(g)), None) for r, g in zip(ranked, gold)]
    n = len(ranks) or 1
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r) / n,
    }


def dedupe(pages: list[int | None]) -> list[int]:
    return [p for p in dict.fromkeys(pages) if p is not None]


# -- naive baselines ------------------------------------------------------------------------------
def windows(pdf: Path) -> list[tuple[int, str]]:
    """(page, text) for 200-word windows of each page's plain pypdf text."""
    from pypdf import PdfReader

    out = []
    for number, page in enumerate(PdfReader(str(pdf)).pages, start=1):
        words = (page.extract_text() or "").split()
        for start in range(0, max(len(words), 1), WINDOW):
            if words[start : start + WINDOW]:
                out.append((number, " ".join(words[start : start + WINDOW])))
    return out


class BM25:
    """Okapi BM25 over tokenised windows (one pure formula, numpy)."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.docs = [Counter(_TOKEN.findall(t.lower())) for t in texts]
        self.lengths = np.array([sum(d.values()) for d in self.docs], dtype=float)
        self.k1, self.b, self.avg = k1, b, float(self.lengths.mean() or 1.0)
        df: Counter[str] = Counter(t for d in self.docs for t in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self.docs))
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.avg)
        for term in set(_TOKEN.findall(query.lower())):
            if term not in self.idf:
                continue
            tf = np.array([d.get(term, 0) for d in self.docs], dtype=float)
            out += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return out


def rrf(*orders: np.ndarray, k: int = 60) -> np.ndarray:
    score = np.zeros(len(orders[0]))
    for order in orders:
        score[order] += 1.0 / (k + np.arange(1, len(order) + 1))
    return np.argsort(-score, kind="stable")


def naive(kb: KnowledgeBase, pdf: Path, questions: list[dict[str, Any]]) -> dict[str, list[list[int]]]:
    wins = windows(pdf)
    pages = [p for p, _ in wins]
    bm25 = BM25([t for _, t in wins])
    vecs = kb.embed([t for _, t in wins])
    qvecs = kb.embed([q["question"] for q in questions])
    out: dict[str, list[list[int]]] = {"naive BM25": [], "naive dense": [], "naive RRF": []}
    for q, qv in zip(questions, qvecs):
        b = np.argsort(-bm25.scores(q["question"]), kind="stable")
        d = np.argsort(-(vecs @ qv), kind="stable")
        for name, order in (("naive BM25", b), ("naive dense", d), ("naive RRF", rrf(b, d))):
            out[name].append(dedupe([pages[i] for i in order[:DEPTH]]))
    return out


# -- the shipped pipeline -------------------------------------------------------------------------
def before_loader() -> Any:
    """The PDF loader of commit BEFORE, as a module (for ``--loader before``)."""
    import importlib.util

    src = subprocess.run(
        ["git", "show", f"{BEFORE}:src/industry_expert/ingest/pdf.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = OUT / "pdf" / "pdf_before.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("pdf_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_kb(root: Path, kb: Path, loader: str) -> float:
    """Ingest the corpus (in this process, so ``before`` can swap the loader); seconds taken."""
    settings = Settings()
    settings.ingest.isolate_parsing = False
    from industry_expert.ingest import pdf as pdf_module

    saved = pdf_module.load
    if loader == "before":
        pdf_module.load = before_loader().load  # type: ignore[assignment]
    t0 = time.perf_counter()
    try:
        report = ingest([str(root)], kb, settings=settings)
    finally:
        pdf_module.load = saved  # type: ignore[assignment]
    if not report.ok:
        raise SystemExit(f"{kb}: ingest failed: {report.to_dict()['errors']}")
    return time.perf_counter() - t0


def shipped(kb: KnowledgeBase, questions: list[dict[str, Any]]) -> list[list[int]]:
    return [dedupe([h.page for h in retrieve(kb, q["question"], k=DEPTH)]) for q in questions]


def run_set(name: str, loaders: list[str]) -> dict[str, Any]:
    root = fetch(name)
    pdf = next(root.glob("*.pdf"))
    questions = load_set(name)
    gold = [q["gold_pages"] for q in questions]
    systems: dict[str, list[list[int]]] = {}
    info: dict[str, Any] = {"questions": len(questions), "pdf": pdf.name}
    backend = "pdfium" if pdf_pdfium.available() else "pypdf"
    for loader in loaders:
        label = f"shipped ({backend})" if loader == "new" else "before issue 20 (pypdf)"
        kb_path = OUT / "pdf" / f"{name.split('/')[-1]}-{backend if loader == 'new' else 'before'}"
        info[f"{label} ingest s"] = round(build_kb(root, kb_path, loader), 1)
        with KnowledgeBase.open(kb_path) as kb:
            info[f"{label} chunks"] = kb.stats()["chunks"]
            systems[label] = shipped(kb, questions)
            if loader == loaders[-1]:
                systems.update(naive(kb, pdf, questions))
    top10 = {s: [r[:10] for r in ranked] for s, ranked in systems.items()}
    return {"info": info, "metrics": {s: metrics(r, gold) for s, r in systems.items()}, "ranked": top10}


def table(results: dict[str, Any]) -> str:
    lines = [
        "Page-level retrieval on PDF manuals (answerable questions; naive baselines in the same run)",
        "",
    ]
    for name, r in results.items():
        lines += [f"**{name}** ({r['info']['pdf']}, {r['info']['questions']} questions)", ""]
        lines += ["| system | hit@1 | hit@5 | MRR@10 |", "|---|---|---|---|"]
        for system, m in r["metrics"].items():
            lines.append(f"| {system} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=list(SETS))
    ap.add_argument("--loader", choices=["new", "before"], action="append", default=None)
    args = ap.parse_args()
    loaders = args.loader or ["new"]
    if "new" not in loaders:
        loaders.append("new")
    loaders.sort(key=lambda x: x != "before")  # "before" first: the naive rows run with "new"
    t0 = time.perf_counter()
    results = {name: run_set(name, loaders) for name in args.sets}
    data = {"machine": machine(), "seconds": round(time.perf_counter() - t0, 1), "sets": results}
    tag = "" if pdf_pdfium.available() else "_pypdf"
    write_results(f"retrieval_pdf{tag}", data, table(results))


if __name__ == "__main__":
    main()
