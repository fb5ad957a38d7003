"""Does a reranking stage over the shipped hybrid's top candidates make it at least as good as its
best single retriever on every question set, without tuning on the set it is reported on?

    python bench/rerank_experiments.py      # KBs from bench/retrieval_loo.py under bench/out

Signals, all from the bundled all-MiniLM-L6-v2 (no cross-encoder weights exist offline), computed
on the ``TOP`` best chunks of the shipped hybrid (z-score 0.5/0.5, summary 0.1, adaptive 1):

- ``maxsim``: late interaction (ColBERT-style): the mean over the query's content tokens of the
  best cosine with any of the chunk's tokens (the embedder's own contextual token vectors, L2
  normalised; special, punctuation and stop-word tokens of the query left out).
- ``maxsim_all``: the same over every query token but [CLS]/[SEP] (no stop-word filter).
- ``sentmax``: the best cosine between the query vector and a sentence of the chunk, a sentence
  being the mean of the chunk's own token vectors over its span (free at ingest time).
- ``sentmax_sep``: the same with each sentence embedded on its own (an extra encoder pass).
- ``upr``: the bundled generator's mean log p(question | passage) (Sachan et al. 2022; a few sets
  only, its cost is reported).

Each signal reranks the top ``TOP`` alone (``w = inf``) or fused with the hybrid score:
``z(hybrid) + w * z(signal)`` over those candidates (``fusion.normalize_scores``). ``w`` is chosen
leave-one-corpus-out over the five design sets (same objective as bench/retrieval_loo.py: the
largest worst-case margin over the best single retriever) and, chosen on all five, reported
prospectively on the sets never used for design (pylib, apache). Metrics are retrieval_loo's
(document level, cached candidates, no near-duplicate collapsing, the same for every row).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import OUT, QUESTIONS, machine, write_results
from retrieval_loo import DESIGN_SETS, FROZEN_DEFAULT, Cached, choose, metrics, summarize

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpora"))
from fetch import corpus_names, questions_path  # noqa: E402

from industry_expert.config import RetrieveSettings  # noqa: E402
from industry_expert.evaluate.questions import Question, load_questions  # noqa: E402
from industry_expert.kb import KnowledgeBase  # noqa: E402
from industry_expert.retrieve.fusion import normalize_scores  # noqa: E402
from industry_expert.retrieve.hybrid import fuse  # noqa: E402
from industry_expert.store.text_query import STOP_WORDS  # noqa: E402

TOP = 20
"""Hybrid candidates reranked per query."""
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, float("inf"))
"""Weight of the reranking signal beside the hybrid score (0: hybrid alone; inf: signal alone)."""
SIGNALS = ("maxsim", "maxsim_all", "sentmax", "sentmax_sep", "dense")
PROSPECTIVE = ("pylib", "apache")
CACHE = OUT / "rerank-cache"
_SENTENCE = re.compile(r"[^\n.!?]+(?:[.!?]+|$)", re.MULTILINE)
SHIPPED = RetrieveSettings(**FROZEN_DEFAULT)


# -- token vectors from the embedder's own encoder pass --------------------------------------------


@dataclass
class Encoded:
    """One text through the encoder: unit token vectors, the token strings and char offsets."""

    vectors: np.ndarray  # (tokens, dim) float32, L2-normalised per token
    tokens: list[str]
    offsets: list[tuple[int, int]]
    pooled: np.ndarray  # mean of the raw token vectors, unit length (= the dense vector)


def encode(embedder: Any, texts: list[str], threads: int = 1) -> list[Encoded]:
    """Run the KB's ONNX embedder and keep its token vectors (one batch call per 16 texts)."""
    out: list[Encoded] = []
    sess = embedder.session(threads)
    for start in range(0, len(texts), 16):
        encs = embedder.tokenizer.encode_batch(texts[start : start + 16])
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encs):
            ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, e.attention_mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})[0]
        for row, e in enumerate(encs):
            raw = hidden[row, : len(e.ids)].astype(np.float32)
            unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
            pooled = raw.mean(axis=0)
            out.append(Encoded(unit, list(e.tokens), list(e.offsets), pooled / np.linalg.norm(pooled)))
    return out


def content_rows(text: str, enc: Encoded, stop_words: bool) -> np.ndarray:
    """Rows of the tokens that count: no [CLS]/[SEP], no punctuation-only token, and (when
    ``stop_words``) no token of a word that is a stop word."""
    keep = []
    for row, (tok, (a, b)) in enumerate(zip(enc.tokens, enc.offsets)):
        if tok in ("[CLS]", "[SEP]", "[PAD]") or not any(ch.isalnum() for ch in tok):
            continue
        if stop_words and _word_at(text, a, b).lower() in STOP_WORDS:
            continue
        keep.append(row)
    return np.asarray(keep or [r for r, t in enumerate(enc.tokens) if t not in ("[CLS]", "[SEP]")])


def _word_at(text: str, a: int, b: int) -> str:
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    return text[a:b]


def sentence_vectors(text: str, enc: Encoded) -> np.ndarray:
    """Unit mean vectors of the chunk's token vectors over each sentence (contextual spans)."""
    rows = []
    for m in _SENTENCE.finditer(text):
        span = [
            r for r, (a, b) in enumerate(enc.offsets) if b > a and a >= m.start() and b <= m.end()
        ]
        if span:
            v = (enc.vectors[span]).mean(axis=0)
            rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
    return np.asarray(rows) if rows else enc.pooled[None, :]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if any(ch.isalnum() for ch in s)] or [text]


# -- per-set candidate representations ----------------------------------------------------------


@dataclass
class ChunkRep:
    tokens: np.ndarray  # content token vectors (no special / punctuation tokens)
    sents: np.ndarray  # contextual sentence vectors
    sents_sep: np.ndarray  # sentences embedded on their own
    dense: np.ndarray  # the chunk's stored vector (control: reranking by more dense weight)


def chunk_reps(kb: KnowledgeBase, ids: list[int]) -> dict[int, ChunkRep]:
    hits = kb.store.hits(ids)
    texts = [f"{hits[i].section}\n{hits[i].text}" if hits[i].section else hits[i].text for i in ids]
    encs = encode(kb.embedder, texts)
    vectors = kb.store.vectors(ids)
    parts = [sentences(t) for t in texts]
    flat = kb.embed([s for p in parts for s in p])
    bounds = np.cumsum([0] + [len(p) for p in parts])
    return {
        cid: ChunkRep(
            enc.vectors[content_rows(text, enc, False)],
            sentence_vectors(text, enc),
            flat[bounds[j] : bounds[j + 1]],
            vectors[j],
        )
        for j, (cid, text, enc) in enumerate(zip(ids, texts, encs))
    }


class Reranked(Cached):
    """retrieval_loo's cached candidates plus each question's top-``TOP`` reranking signals."""

    def __init__(self, name: str, kb_path: Path, questions: list[Question]) -> None:
        super().__init__(kb_path, questions)
        self.name = name
        self.hybrid_ranked = [fuse(c, SHIPPED)[0] for c in self.cands]
        with KnowledgeBase.open(kb_path) as kb:
            ids = list(dict.fromkeys(cid for r in self.hybrid_ranked for cid, _ in r[:TOP]))
            t0 = time.perf_counter()
            reps = chunk_reps(kb, ids)
            self.encode_s = time.perf_counter() - t0
            self.chunks_encoded = len(ids)
            self.signals = [self._signals(kb, q.question, r[:TOP], reps) for q, r in zip(questions, self.hybrid_ranked)]

    def _signals(self, kb: KnowledgeBase, query: str, top: list, reps: dict) -> dict[str, np.ndarray]:
        enc = encode(kb.embedder, [query])[0]
        q_content = enc.vectors[content_rows(query, enc, True)]
        q_all = enc.vectors[content_rows(query, enc, False)]
        out: dict[str, list[float]] = {s: [] for s in SIGNALS}
        for cid, _ in top:
            rep = reps[cid]
            out["maxsim"].append(float((q_content @ rep.tokens.T).max(axis=1).mean()))
            out["maxsim_all"].append(float((q_all @ rep.tokens.T).max(axis=1).mean()))
            out["sentmax"].append(float((rep.sents @ enc.pooled).max()))
            out["sentmax_sep"].append(float((rep.sents_sep @ enc.pooled).max()))
            out["dense"].append(float(rep.dense @ enc.pooled))
        return {s: np.asarray(v) for s, v in out.items()}

    def reranked(self, i: int, signal: str, w: float) -> list[tuple[int, float]]:
        ranked = self.hybrid_ranked[i]
        n = len(self.signals[i][signal])
        top, rest = ranked[:n], ranked[n:]
        if w == 0 or len(top) < 2:
            return ranked
        sig = normalize_scores(self.signals[i][signal], "zscore")
        base = normalize_scores([s for _, s in top], "zscore")
        score = sig if w == float("inf") else base + w * sig
        order = sorted(range(len(top)), key=lambda j: (-score[j], j))
        return [(top[j][0], float(score[j])) for j in order] + rest

    def evaluate(self, signal: str, w: float) -> dict[str, float]:
        return summarize(
            [
                metrics(self.docs(self.reranked(i, signal, w)), q.gold_sources)
                for i, q in enumerate(self.questions)
            ]
        )


class UPR:
    """Unsupervised passage reranking: the bundled generator's mean log p(question | passage)."""

    prompt = "Passage: {passage}\n\nWrite a question that this passage answers."

    def __init__(self) -> None:
        from llama_cpp import Llama

        from industry_expert.models.llamacpp import bundled_gguf

        self.llm = Llama(
            model_path=str(bundled_gguf()),
            n_ctx=1024,
            n_threads=1,
            n_threads_batch=1,
            logits_all=True,
            verbose=False,
        )
        self.template = self.llm.metadata["tokenizer.chat_template"]

    def score(self, passage: str, question: str) -> float:
        from industry_expert.models.templates import render

        text = render(self.template, [{"role": "user", "content": self.prompt.format(passage=passage)}])
        head = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)[-800:]
        q = self.llm.tokenize(question.encode("utf-8"), add_bos=False, special=False)
        self.llm.reset()
        self.llm.eval(head + q)
        logits = np.asarray(self.llm.scores[len(head) - 1 : len(head) + len(q) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        logp = logits - (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))
        return float(logp[np.arange(len(q)), q].mean())


def add_upr(data: Reranked, kb_path: Path, scorer: UPR, top: int) -> float:
    """Adds the ``upr`` signal over the top ``top`` candidates; returns seconds per query."""
    t0 = time.perf_counter()
    with KnowledgeBase.open(kb_path) as kb:
        for i, q in enumerate(data.questions):
            ids = [cid for cid, _ in data.hybrid_ranked[i][:top]]
            hits = kb.store.hits(ids)
            data.signals[i]["upr"] = np.asarray(
                [scorer.score(f"{hits[c].section}\n{hits[c].text}", q.question) for c in ids]
            )
    return (time.perf_counter() - t0) / max(1, len(data.questions))


def question_sets() -> dict[str, tuple[Path, list[Question]]]:
    """The KBs bench/retrieval_loo.py ingested (opened as they are: no re-ingest here)."""
    sets = {"kestrel": (OUT / "kestrel-kb", load_questions(QUESTIONS))}
    for name in corpus_names():
        if questions_path(name).is_file():
            sets[name] = (OUT / f"{name}-kb", load_questions(questions_path(name)))
    for name, (kb, _) in sets.items():
        if not (kb / "manifest.json").is_file():
            raise SystemExit(f"{kb}: no KB for {name}; run bench/retrieval_loo.py first")
    return {n: (kb, [q for q in qs if q.answerable]) for n, (kb, qs) in sets.items()}


# -- leave-one-corpus-out choice of the weight, prospective test, cost ---------------------------


def label(w: float) -> str:
    return "alone" if w == float("inf") else f"{w:g}"


def loo_rotations(table: dict[str, list[dict]], best: dict[str, float], design: list[str]) -> list[dict]:
    """For each held-out design set: the weight best on the other four, graded on it."""
    rows: list[dict] = []
    for held in design if len(design) > 1 else []:
        train = [n for n in design if n != held]
        i = choose(train, table, best)
        res = table[held][i]
        rows.append(
            {
                "held_out": held,
                "weight": label(WEIGHTS[i]),
                "result": res,
                "margin": round(res["mrr@10"] - best[held], 4),
            }
        )
    return rows


def latency(name: str, kb_path: Path, data: Reranked, n: int = 15) -> dict[str, float]:
    """Per-query added cost on one thread: scoring precomputed representations, and encoding the
    ``TOP`` candidates at query time (no precomputation)."""
    out: dict[str, list[float]] = {k: [] for k in ("query_tokens", "score_precomputed", "encode_on_the_fly", "sentences_on_the_fly")}
    with KnowledgeBase.open(kb_path) as kb:
        for i, q in enumerate(data.questions[:n]):
            ids = [cid for cid, _ in data.hybrid_ranked[i][:TOP]]
            t0 = time.perf_counter()
            hits = kb.store.hits(ids)
            texts = [f"{hits[c].section}\n{hits[c].text}" if hits[c].section else hits[c].text for c in ids]
            t1 = time.perf_counter()
            encs = encode(kb.embedder, texts)
            reps = [enc.vectors[content_rows(t, enc, False)] for t, enc in zip(texts, encs)]
            t2 = time.perf_counter()
            kb.embed([s for t in texts for s in sentences(t)])
            t3 = time.perf_counter()
            qenc = encode(kb.embedder, [q.question])[0]
            qv = qenc.vectors[content_rows(q.question, qenc, True)]
            t4 = time.perf_counter()
            [float((qv @ r.T).max(axis=1).mean()) for r in reps]
            t5 = time.perf_counter()
            out["query_tokens"].append(t4 - t3)
            out["score_precomputed"].append(t5 - t4)
            out["encode_on_the_fly"].append(t2 - t0)
            out["sentences_on_the_fly"].append(t3 - t2 + t1 - t0)
    return {k: round(1000 * statistics.median(v), 2) for k, v in out.items()} | {"set": name, "queries": n}


def main() -> None:
    import os

    t0 = time.perf_counter()
    sets = question_sets()
    only = [s for s in os.environ.get("RERANK_SETS", "").split(",") if s]
    if only:
        sets = {n: v for n, v in sets.items() if n in only}
    data = {}
    for n, (kb, qs) in sets.items():
        t = time.perf_counter()
        data[n] = Reranked(n, kb, qs)
        print(f"{n}: {len(qs)} questions, {data[n].chunks_encoded} chunks encoded in {data[n].encode_s:.0f} s "
              f"({time.perf_counter() - t:.0f} s in all)", file=sys.stderr)
    singles = {n: {m: d.single(m) for m in ("dense", "bm25")} for n, d in data.items()}
    singles = {n: {**v, "hybrid": data[n].evaluate("maxsim", 0.0)} for n, v in singles.items()}
    best = {n: max(v["dense"]["mrr@10"], v["bm25"]["mrr@10"]) for n, v in singles.items()}
    tables = {s: {n: [d.evaluate(s, w) for w in WEIGHTS] for n, d in data.items()} for s in SIGNALS}
    design = [n for n in data if n in DESIGN_SETS]
    rotations = {s: loo_rotations(tables[s], best, design) for s in SIGNALS}
    picks = {s: WEIGHTS[choose(design or list(data), tables[s], best)] for s in SIGNALS}
    first = next(iter(sets))
    cost = latency(first, sets[first][0], data[first])
    report(data, singles, best, tables, rotations, picks, cost, time.perf_counter() - t0)


def report(data, singles, best, tables, rotations, picks, cost, seconds) -> None:  # type: ignore[no-untyped-def]
    lines = [
        f"Reranking experiments over the shipped hybrid's top {TOP} (document level, cached candidates; {seconds:.0f} s)",
        "",
        "## Per set: single retrievers, the shipped hybrid, and each signal with the weight chosen on the "
        "five design sets (prospective on pylib and apache; in-sample on the design sets, whose held-out "
        "numbers are in the next table)",
        "",
        "| set | q | dense MRR | BM25 MRR | hybrid hit@1 / hit@5 / MRR | "
        + " | ".join(f"{s} (w={label(picks[s])}) hit@1 / hit@5 / MRR / margin" for s in SIGNALS)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(SIGNALS),
    ]
    for n, d in data.items():
        h = singles[n]["hybrid"]
        cells = []
        for s in SIGNALS:
            r = tables[s][n][WEIGHTS.index(picks[s])]
            cells.append(f"{r['hit@1']:.3f} / {r['hit@5']:.3f} / {r['mrr@10']:.3f} / {r['mrr@10'] - best[n]:+.3f}")
        lines.append(
            f"| {n} | {len(d.questions)} | {singles[n]['dense']['mrr@10']:.3f} | {singles[n]['bm25']['mrr@10']:.3f} | "
            f"{h['hit@1']:.3f} / {h['hit@5']:.3f} / {h['mrr@10']:.3f} ({h['mrr@10'] - best[n]:+.3f}) | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Leave-one-corpus-out over the design sets: weight chosen on the other four, graded on the held-out set", "",
              "| signal | held-out | weight | hit@1 | hit@5 | MRR@10 | margin |", "|---|---|---|---|---|---|---|"]
    for s, rows in rotations.items():
        for r in rows:
            res = r["result"]
            lines.append(f"| {s} | {r['held_out']} | {r['weight']} | {res['hit@1']:.3f} | {res['hit@5']:.3f} | {res['mrr@10']:.3f} | {r['margin']:+.3f} |")
    lines += ["", "## MRR@10 margin over the best single retriever, every weight (w=0: the shipped hybrid)", "",
              "| signal | set | " + " | ".join(label(w) for w in WEIGHTS) + " |", "|---|---|" + "---|" * len(WEIGHTS)]
    for s in SIGNALS:
        for n in data:
            lines.append(f"| {s} | {n} | " + " | ".join(f"{r['mrr@10'] - best[n]:+.3f}" for r in tables[s][n]) + " |")
    lines += ["", f"## Added cost per query (ms, median, 1 thread, {cost['queries']} questions of {cost['set']})", "",
              "| step | ms |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in cost.items() if k not in ("set", "queries")]
    write_results(
        "rerank_experiments",
        {
            "machine": machine(),
            "top": TOP,
            "weights": [label(w) for w in WEIGHTS],
            "singles": singles,
            "tables": tables,
            "rotations": rotations,
            "picks": {s: label(w) for s, w in picks.items()},
            "cost_ms": cost,
            "chunks_encoded": {n: d.chunks_encoded for n, d in data.items()},
        },
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
